/*
 * Hashing and checksums.
 *
 * hash64: a fast non-cryptographic 64-bit hash for in-memory tables (not stable across
 * versions; never stored on disk).
 * crc32c: CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every on-disk
 * record. crc32c_extend(0, p, n) == crc32c(p, n). Hardware instructions are used when present.
 */
#ifndef CAIRN_CORE_HASH_H
#define CAIRN_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t hash64(const void *p, size_t n);
uint32_t crc32c_extend(uint32_t crc, const void *p, size_t n);

static inline uint32_t crc32c(const void *p, size_t n)
{
    return crc32c_extend(0, p, n);
}

#endif
