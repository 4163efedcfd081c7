#include "lib/err.h"

#include <stdarg.h>
#include <stdio.h>

const char *tr_strerror(int code)
{
    switch (code) {
        case TR_OK:
            return "ok";
#define TR__ERR_CASE(name, value, msg) \
    case name:                         \
        return msg;
            TR_ERR_TABLE(TR__ERR_CASE)
#undef TR__ERR_CASE
        default:
            return "unknown error";
    }
}

int tr_errf(int code, char *errmsg, const char *fmt, ...)
{
    if (errmsg != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errmsg, TR_ERRMSG_SIZE, fmt, ap);
        va_end(ap);
    }
    return code;
}
