/*
 * Allocation wrappers. Out of memory aborts the process with a message, so callers never test
 * the result (STYLE.md §3). ts_free(NULL) is a no-op.
 */
#ifndef CAIRN_CORE_ALLOC_H
#define CAIRN_CORE_ALLOC_H

#include <stddef.h>

void *ts_malloc(size_t size);
void *ts_calloc(size_t count, size_t size);
void *ts_realloc(void *p, size_t size);
/* Copy of the first 'n' bytes of 's' plus a NUL. Caller owns; free with ts_free. */
char *ts_strndup(const char *s, size_t n);
char *ts_strdup(const char *s);
/* 'size' zeroed bytes aligned to 'align' (a power of two, multiple of sizeof(void *)); free
 * with ts_free. For tables whose entries must not straddle cache lines. */
void *ts_calloc_aligned(size_t align, size_t size);
void ts_free(void *p);

#endif
