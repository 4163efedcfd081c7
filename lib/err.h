/* err.h - triad error codes and messages.
 *
 * Every fallible function returns int: 0 on success or a negative TR_E* code.
 * User-facing paths also fill a caller-provided char errmsg[TR_ERRMSG_SIZE]
 * with a precise message. Codes map to HTTP statuses in exactly one place
 * (server/status.c). */
#ifndef TR_LIB_ERR_H
#define TR_LIB_ERR_H

#include <stddef.h>

#define TR_ERRMSG_SIZE 512

/* X(name, value, message) */
#define TR_ERR_TABLE(X)                                      \
    X(TR_ENOMEM, -1, "out of memory")                        \
    X(TR_EINVAL, -2, "invalid argument")                     \
    X(TR_EPROTO, -3, "malformed input")                      \
    X(TR_ECORRUPT, -4, "corrupt data")                       \
    X(TR_ETOOLARGE, -5, "too large")                         \
    X(TR_ENOTFOUND, -6, "not found")                         \
    X(TR_EIO, -7, "i/o error")                               \
    X(TR_ELIMIT, -8, "limit exceeded")                       \
    X(TR_EUNAVAIL, -9, "service unavailable")                \
    X(TR_ETOOOLD, -10, "sample too old")                     \
    X(TR_EDUP, -11, "duplicate sample with different value") \
    X(TR_EUNSUPPORTED, -12, "unsupported")                   \
    X(TR_ETIMEOUT, -13, "timed out")                         \
    X(TR_ECANCELED, -14, "canceled")                         \
    X(TR_EAUTH, -15, "unauthorized")                         \
    X(TR_EEXEC, -16, "execution error")                      \
    X(TR_EBUSY, -17, "overloaded")

enum {
    TR_OK = 0,
#define TR__ERR_ENUM(name, value, msg) name = value,
    TR_ERR_TABLE(TR__ERR_ENUM)
#undef TR__ERR_ENUM
};

/* Static message for a code; never NULL. */
const char *tr_strerror(int code);

/* Formats into errmsg (may be NULL) and returns code. Usable as
 * `return tr_errf(TR_EPROTO, errmsg, "bad label %s", name);` */
int tr_errf(int code, char *errmsg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
