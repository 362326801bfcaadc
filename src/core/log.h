/*
 * Logging to stderr (or a file reopened on SIGHUP) with levels and a timestamp.
 *
 * Thread-safe: each message is formatted into one buffer and written with a single write().
 * Not for use in pure modules (proto/, storage/codec, conf/ini, query/jsonw).
 */
#ifndef CAIRN_CORE_LOG_H
#define CAIRN_CORE_LOG_H

#include <stdint.h>
#include <stdatomic.h>

typedef enum LogLevel { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 } LogLevel;

void log_set_level(LogLevel level);
/* Parse "debug", "info", "warn", "error"; returns 0 on success, -1 otherwise. */
int log_parse_level(const char *s, LogLevel *out);
/* Send logs to 'path' (append) instead of stderr; NULL or "" means stderr. Returns TsStatus. */
int log_open(const char *path);
/* Reopen the log file (after rotation); a no-op for stderr. */
void log_reopen(void);
void log_msg(LogLevel level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * A rate limiter for log lines about bad input: allows at most 'per_sec' lines per second and
 * counts what it suppressed. Embed one per message kind; zero-initialise it.
 */
typedef struct LogLimit {
    _Atomic int64_t window_s;    /* second the current window started */
    _Atomic uint32_t count;      /* lines allowed in this window */
    _Atomic uint64_t suppressed; /* lines dropped since the last allowed line */
} LogLimit;

/* True if a line may be logged now; 'suppressed' receives the lines skipped before it. */
int log_limit_allow(LogLimit *l, uint32_t per_sec, uint64_t *suppressed);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
