/*
 * One status type for the whole project (see STYLE.md §3).
 *
 * Functions return an int that is a TsStatus and write results through out-parameters. A
 * TsError, when the caller passes one, receives a human-readable message and, for parsers, the
 * byte offset of the problem so HTTP can answer {"error": ..., "pos": N}.
 */
#ifndef CAIRN_CORE_STATUS_H
#define CAIRN_CORE_STATUS_H

#include <stddef.h>

typedef enum TsStatus {
    TS_OK = 0,
    TS_ERR_IO = -1,       /* a system call failed; sys_errno says why */
    TS_ERR_CORRUPT = -2,  /* stored bytes fail a checksum or an invariant */
    TS_ERR_PROTO = -3,    /* input violates its grammar */
    TS_ERR_LIMIT = -4,    /* input or state exceeds a configured cap */
    TS_ERR_NOTFOUND = -5, /* the thing asked for does not exist */
    TS_ERR_AGAIN = -6,    /* not now: retry later (full chunk, full queue) */
    TS_ERR_READONLY = -7  /* storage latched read-only after an fsync/write error */
} TsStatus;

typedef struct TsError {
    int sys_errno; /* errno of the failed call, 0 if none */
    size_t pos;    /* byte offset in the input where parsing failed */
    char msg[160]; /* NUL-terminated, possibly truncated description */
} TsError;

/*
 * Fill 'err' (which may be NULL, then nothing happens) with a printf-style message and a byte
 * offset. Returns 'rc' so callers can write: return ts_error(err, TS_ERR_PROTO, pos, "...").
 */
int ts_error(TsError *err, int rc, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Static name of a status code, e.g. "TS_ERR_IO". */
const char *ts_status_name(int rc);

/* Always-on invariant check for cheap storage invariants: prints and aborts when false. */
#define TS_ASSERT(x)                                                                               \
    do {                                                                                           \
        if (!(x))                                                                                  \
            ts_assert_fail(#x, __FILE__, __LINE__);                                                \
    } while (0)

void ts_assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));

#endif
