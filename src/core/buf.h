/*
 * Buf: a growable byte buffer with little-endian and varint writers.
 *
 * Embedded (buf_init/buf_deinit). The bytes at p[0..n) are owned by the Buf; a pointer into
 * them is valid until the next call that may grow the buffer.
 */
#ifndef CAIRN_CORE_BUF_H
#define CAIRN_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct Buf {
    uint8_t *p; /* storage, NULL until the first append */
    size_t n;   /* bytes in use */
    size_t cap; /* bytes allocated */
} Buf;

void buf_init(Buf *b);
void buf_deinit(Buf *b);
/* Ensure room for 'extra' more bytes beyond n. */
void buf_reserve(Buf *b, size_t extra);
void buf_append(Buf *b, const void *p, size_t n);
void buf_put_u8(Buf *b, uint8_t v);
void buf_put_u16le(Buf *b, uint16_t v);
void buf_put_u32le(Buf *b, uint32_t v);
void buf_put_u64le(Buf *b, uint64_t v);
/* LEB128 unsigned varint, at most 10 bytes. */
void buf_put_varint(Buf *b, uint64_t v);
void buf_printf(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_puts(Buf *b, const char *s);
/* Make the buffer empty without freeing its storage. */
static inline void buf_clear(Buf *b)
{
    b->n = 0;
}

#endif
