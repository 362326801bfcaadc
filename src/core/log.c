/*
 * Leveled logging. Each line: "2026-11-22T03:13:07.123Z INFO message\n", written with one
 * write(2) so lines from several threads never interleave.
 */
#include "core/log.h"
#include "core/status.h"
#include "core/alloc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Atomic int g_level = LOG_INFO;
static _Atomic int g_fd = 2;
static pthread_mutex_t g_path_lock = PTHREAD_MUTEX_INITIALIZER;
static char *g_path; /* guarded by g_path_lock; NULL = stderr */

void log_set_level(LogLevel level)
{
    g_level = level;
}

int log_parse_level(const char *s, LogLevel *out)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (LogLevel)i;
            return 0;
        }
    }
    return -1;
}

int log_open(const char *path)
{
    pthread_mutex_lock(&g_path_lock);
    ts_free(g_path);
    g_path = (path && *path) ? ts_strdup(path) : NULL;
    pthread_mutex_unlock(&g_path_lock);
    if (!g_path)
        return TS_OK;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return TS_ERR_IO;
    int old = atomic_exchange(&g_fd, fd);
    if (old != 2)
        close(old);
    return TS_OK;
}

void log_reopen(void)
{
    pthread_mutex_lock(&g_path_lock);
    if (g_path) {
        int fd = open(g_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd >= 0) {
            int old = atomic_exchange(&g_fd, fd);
            if (old != 2)
                close(old);
        }
    }
    pthread_mutex_unlock(&g_path_lock);
}

void log_msg(LogLevel level, const char *fmt, ...)
{
    static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    if ((int)level < g_level)
        return;
    char line[1024];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     now.tv_nsec / 1000000, names[level]);
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (k < 0)
        k = 0;
    size_t len = (size_t)n + (size_t)k;
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    int fd = g_fd;
    ssize_t w = write(fd, line, len);
    (void)w;
}

int log_limit_allow(LogLimit *l, uint32_t per_sec, uint64_t *suppressed)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t sec = now.tv_sec;
    int64_t w = atomic_load(&l->window_s);
    if (w != sec && atomic_compare_exchange_strong(&l->window_s, &w, sec))
        atomic_store(&l->count, 0);
    if (atomic_fetch_add(&l->count, 1) < per_sec) {
        *suppressed = atomic_exchange(&l->suppressed, 0);
        return 1;
    }
    atomic_fetch_add(&l->suppressed, 1);
    return 0;
}
