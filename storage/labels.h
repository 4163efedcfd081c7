/* labels.h - label sets: sorted (name, value) pairs and their canonical
 * encoding, used as the series key and in Raft entries.
 *
 * Canonical encoding (labels sorted by name, names unique):
 *   OFFSET  SIZE     DESCRIPTION
 *   0       uvarint  number of labels N
 *   .       per label: uvarint name length, name bytes,
 *                      uvarint value length, value bytes
 */
#ifndef TR_STORAGE_LABELS_H
#define TR_STORAGE_LABELS_H

#include <stddef.h>
#include <stdint.h>

#include "lib/alloc.h"
#include "lib/buf.h"

struct tr_label {
    struct tr_slice name;
    struct tr_slice value;
};

/* Sorts labels by name (insertion sort for small sets, qsort otherwise). */
void tr_labels_sort(struct tr_label *ls, size_t n);
int tr_labels_cmp(const struct tr_label *a,
                  size_t na,
                  const struct tr_label *b,
                  size_t nb);
/* Appends the canonical encoding of sorted labels. */
int tr_labels_encode(const struct tr_label *ls, size_t n, struct tr_buf *out);
/* Decodes into an arena array whose slices point into buf. TR_ECORRUPT. */
int tr_labels_decode(const void *buf,
                     size_t len,
                     struct tr_arena *a,
                     struct tr_label **out,
                     size_t *n);
/* Value of label name or NULL slice (base NULL) if absent. */
struct tr_slice tr_labels_get(const struct tr_label *ls,
                              size_t n,
                              const char *name,
                              size_t name_len);
/* Series id seed hash of a canonical encoding. */
uint64_t tr_labels_hash(const void *enc, size_t len);

#endif
