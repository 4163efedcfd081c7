/* files.h - helpers shared by the unit tests. */
#ifndef TR_TESTS_LIB_FILES_H
#define TR_TESTS_LIB_FILES_H

#include <stddef.h>

/* The whole file at path as a NUL-terminated tr_malloc'd string (free with
 * tr_free), its length in *len when len is not NULL; NULL when the file
 * cannot be opened. */
char *tr_test_read_file(const char *path, size_t *len);

#endif
