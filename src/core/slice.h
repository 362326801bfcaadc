/*
 * A borrowed byte range. Parsers take Slices, never require NUL termination and never write
 * into them. The bytes belong to whoever handed the Slice out.
 */
#ifndef CAIRN_CORE_SLICE_H
#define CAIRN_CORE_SLICE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <stdbool.h>

typedef struct Slice {
    const uint8_t *p; /* first byte; may be NULL when n == 0 */
    size_t n;         /* number of bytes */
} Slice;

static inline Slice slice_make(const void *p, size_t n)
{
    Slice s = {(const uint8_t *)p, n};
    return s;
}

static inline Slice slice_cstr(const char *s)
{
    return slice_make(s, strlen(s));
}

static inline bool slice_eq(Slice a, Slice b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

static inline bool slice_eq_cstr(Slice a, const char *s)
{
    return slice_eq(a, slice_cstr(s));
}

/* Bytewise comparison, shorter prefix first; returns <0, 0, >0. */
static inline int slice_cmp(Slice a, Slice b)
{
    size_t n = a.n < b.n ? a.n : b.n;
    int c = n ? memcmp(a.p, b.p, n) : 0;
    if (c)
        return c;
    return a.n < b.n ? -1 : a.n > b.n ? 1 : 0;
}

#endif
