/*
 * Allocation wrappers that abort on out-of-memory.
 */
#include "core/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t size)
{
    fprintf(stderr, "cairn: out of memory allocating %zu bytes\n", size);
    abort();
}

void *ts_malloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        oom(size);
    return p;
}

void *ts_calloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        oom(count * size);
    return p;
}

void *ts_realloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (!q)
        oom(size);
    return q;
}

char *ts_strndup(const char *s, size_t n)
{
    char *p = ts_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *ts_strdup(const char *s)
{
    return ts_strndup(s, strlen(s));
}

void *ts_calloc_aligned(size_t align, size_t size)
{
    void *p = NULL;
    if (posix_memalign(&p, align, size ? size : 1) != 0)
        oom(size);
    memset(p, 0, size);
    return p;
}

void ts_free(void *p)
{
    free(p);
}
