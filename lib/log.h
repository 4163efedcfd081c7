/* log.h - logfmt logging to stderr: `ts=... level=info msg="..." k=v`.
 * Thread-safe (one write(2) per line). */
#ifndef TR_LIB_LOG_H
#define TR_LIB_LOG_H

enum tr_log_level { TR_LOG_DEBUG, TR_LOG_INFO, TR_LOG_WARN, TR_LOG_ERROR };

void tr_log_set_level(enum tr_log_level level);
/* Parses "debug|info|warn|error"; returns 0 or TR_EINVAL. */
int tr_log_parse_level(const char *s, enum tr_log_level *out);
int tr_log_enabled(enum tr_log_level level);

/* msg is quoted as needed; fmt (may be NULL) adds more logfmt fields, e.g.
 * tr_log(TR_LOG_INFO, "listening", "addr=%s", addr). */
void tr_log(enum tr_log_level level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define tr_log_debug(...) tr_log(TR_LOG_DEBUG, __VA_ARGS__)
#define tr_log_info(...) tr_log(TR_LOG_INFO, __VA_ARGS__)
#define tr_log_warn(...) tr_log(TR_LOG_WARN, __VA_ARGS__)
#define tr_log_error(...) tr_log(TR_LOG_ERROR, __VA_ARGS__)

#endif
