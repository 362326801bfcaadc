/*
 * Growable byte buffer used for WAL records, encoded chunks and HTTP bodies.
 */
#include "core/buf.h"
#include "core/alloc.h"
#include "core/endian.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void buf_init(Buf *b)
{
    b->p = NULL;
    b->n = 0;
    b->cap = 0;
}

void buf_deinit(Buf *b)
{
    ts_free(b->p);
    buf_init(b);
}

void buf_reserve(Buf *b, size_t extra)
{
    if (b->cap - b->n >= extra)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->n < extra)
        cap *= 2;
    b->p = ts_realloc(b->p, cap);
    b->cap = cap;
}

void buf_append(Buf *b, const void *p, size_t n)
{
    if (!n)
        return;
    buf_reserve(b, n);
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

void buf_put_u8(Buf *b, uint8_t v)
{
    buf_reserve(b, 1);
    b->p[b->n++] = v;
}

void buf_put_u16le(Buf *b, uint16_t v)
{
    buf_reserve(b, 2);
    put_u16le(b->p + b->n, v);
    b->n += 2;
}

void buf_put_u32le(Buf *b, uint32_t v)
{
    buf_reserve(b, 4);
    put_u32le(b->p + b->n, v);
    b->n += 4;
}

void buf_put_u64le(Buf *b, uint64_t v)
{
    buf_reserve(b, 8);
    put_u64le(b->p + b->n, v);
    b->n += 8;
}

void buf_put_varint(Buf *b, uint64_t v)
{
    buf_reserve(b, 10);
    b->n += varint_put(b->p + b->n, v);
}

void buf_printf(Buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int k = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (k < 0)
        return;
    if ((size_t)k < sizeof(tmp)) {
        buf_append(b, tmp, (size_t)k);
        return;
    }
    buf_reserve(b, (size_t)k + 1);
    va_start(ap, fmt);
    vsnprintf((char *)b->p + b->n, (size_t)k + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)k;
}

void buf_puts(Buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}
