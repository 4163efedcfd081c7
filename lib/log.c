#include "lib/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/err.h"

static enum tr_log_level log_level = TR_LOG_INFO;

static const char *const log_names[] = {"debug", "info", "warn", "error"};

void tr_log_set_level(enum tr_log_level level)
{
    log_level = level;
}

int tr_log_parse_level(const char *s, enum tr_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, log_names[i]) == 0) {
            *out = (enum tr_log_level)i;
            return 0;
        }
    }
    if (strcmp(s, "warning") == 0) {
        *out = TR_LOG_WARN;
        return 0;
    }
    return TR_EINVAL;
}

int tr_log_enabled(enum tr_log_level level)
{
    return level >= log_level;
}

void tr_log(enum tr_log_level level, const char *msg, const char *fmt, ...)
{
    if (level < log_level) {
        return;
    }
    char line[4096];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n =
        snprintf(line, sizeof(line),
                 "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s msg=\"",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, log_names[level]);
    size_t pos = (size_t)n;
    for (const char *p = msg; *p != '\0' && pos < sizeof(line) - 8; p++) {
        if (*p == '"' || *p == '\\') {
            line[pos++] = '\\';
        }
        line[pos++] = (*p == '\n') ? ' ' : *p;
    }
    line[pos++] = '"';
    if (fmt != NULL && fmt[0] != '\0' && pos < sizeof(line) - 2) {
        line[pos++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + pos, sizeof(line) - pos - 1, fmt, ap);
        va_end(ap);
        if (m > 0) {
            pos += (size_t)m;
            if (pos > sizeof(line) - 2) {
                pos = sizeof(line) - 2;
            }
        }
    }
    line[pos++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, pos);
    (void)w;
}
