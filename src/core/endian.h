/*
 * Fixed-width little-endian/big-endian loads and stores and LEB128 varints, on unaligned bytes.
 * Pure inline helpers used by every on-disk and wire format.
 */
#ifndef CAIRN_CORE_ENDIAN_H
#define CAIRN_CORE_ENDIAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void put_u16le(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* On little-endian hosts the fixed-width loads and stores are one unaligned memcpy (a single
 * move instruction); elsewhere they go byte by byte. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define CAIRN_LITTLE_ENDIAN 1
#else
#define CAIRN_LITTLE_ENDIAN 0
#endif

static inline void put_u32le(uint8_t *p, uint32_t v)
{
    if (CAIRN_LITTLE_ENDIAN) {
        memcpy(p, &v, 4);
        return;
    }
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void put_u64le(uint8_t *p, uint64_t v)
{
    if (CAIRN_LITTLE_ENDIAN) {
        memcpy(p, &v, 8);
        return;
    }
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t get_u16le(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t get_u32le(const uint8_t *p)
{
    if (CAIRN_LITTLE_ENDIAN) {
        uint32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline uint64_t get_u64le(const uint8_t *p)
{
    if (CAIRN_LITTLE_ENDIAN) {
        uint64_t v;
        memcpy(&v, p, 8);
        return v;
    }
    return (uint64_t)get_u32le(p) | ((uint64_t)get_u32le(p + 4) << 32);
}

static inline uint32_t get_u32be(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static inline uint64_t double_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

static inline double bits_double(uint64_t u)
{
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* Write 'v' as LEB128 into p (room for 10 bytes needed); returns bytes written. */
static inline size_t varint_put(uint8_t *p, uint64_t v)
{
    if (v < 0x80) { /* the common one- and two-byte cases (small ids, timestamp deltas) */
        p[0] = (uint8_t)v;
        return 1;
    }
    if (v < 0x4000) {
        p[0] = (uint8_t)(v | 0x80);
        p[1] = (uint8_t)(v >> 7);
        return 2;
    }
    size_t i = 0;
    while (v >= 0x80) {
        p[i++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[i++] = (uint8_t)v;
    return i;
}

/*
 * Read a LEB128 varint from p[0..n). Returns bytes consumed, or 0 if the input is truncated or
 * longer than 10 bytes / overflows 64 bits.
 */
static inline size_t varint_get(const uint8_t *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n && i < 10; i++) {
        uint64_t b = p[i] & 0x7f;
        if (i == 9 && b > 1)
            return 0;
        v |= b << (7 * i);
        if (!(p[i] & 0x80)) {
            *out = v;
            return i + 1;
        }
    }
    return 0;
}

static inline uint64_t zigzag_enc(int64_t v)
{
    return ((uint64_t)v << 1) ^ (0 - ((uint64_t)v >> 63));
}

static inline int64_t zigzag_dec(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

#endif
