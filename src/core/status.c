/*
 * Status codes and the TsError helper shared by every module.
 */
#include "core/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int ts_error(TsError *err, int rc, size_t pos, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
        err->pos = pos;
    }
    return rc;
}

const char *ts_status_name(int rc)
{
    switch (rc) {
    case TS_OK:
        return "TS_OK";
    case TS_ERR_IO:
        return "TS_ERR_IO";
    case TS_ERR_CORRUPT:
        return "TS_ERR_CORRUPT";
    case TS_ERR_PROTO:
        return "TS_ERR_PROTO";
    case TS_ERR_LIMIT:
        return "TS_ERR_LIMIT";
    case TS_ERR_NOTFOUND:
        return "TS_ERR_NOTFOUND";
    case TS_ERR_AGAIN:
        return "TS_ERR_AGAIN";
    case TS_ERR_READONLY:
        return "TS_ERR_READONLY";
    default:
        return "TS_ERR_UNKNOWN";
    }
}

void ts_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "cairn: assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}
