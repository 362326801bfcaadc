/*
 * Block: the self-checking unit stored in segment files. One block holds one chunk of one
 * series: a small varint header (magic/version, count, time range, sizes), the codec chunk,
 * optionally zstd-compressed, and a CRC-32C over everything before it. The byte layout is at
 * the top of block.c.
 *
 * Pure: no I/O, no logging, no globals. Parsing and decoding treat the input as hostile.
 */
#ifndef CAIRN_STORAGE_BLOCK_H
#define CAIRN_STORAGE_BLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/slice.h"
#include "core/status.h"

#define BLOCK_MAGIC 0xC1  /* first byte of every block: "cairn block, version 1" */
#define BLOCK_F_ZSTD 0x01 /* payload is a zstd frame of the codec chunk */

typedef struct BlockHeader {
    uint32_t n_points;     /* 1..CODEC_MAX_POINTS */
    int64_t min_ts_ns;     /* first (smallest) timestamp */
    int64_t max_ts_ns;     /* last (largest) timestamp */
    uint32_t raw_bytes;    /* length of the codec chunk */
    uint32_t stored_bytes; /* length of the payload as stored (== raw_bytes unless zstd) */
    uint8_t flags;         /* BLOCK_F_* */
    size_t header_bytes;   /* bytes before the payload */
} BlockHeader;

/*
 * Encode the points with the codec, try zstd (level 3) on the chunk and keep it only if it
 * saves at least 5%, and append header + payload + crc32c to 'out'. Same preconditions as
 * codec_encode (1 <= n <= CODEC_MAX_POINTS, strictly ascending timestamps). Inputs borrowed.
 */
void block_build(const int64_t *ts_ns, const double *values, size_t n, Buf *out);

/*
 * Free the calling thread's block_build scratch (a zstd context and buffers, kept between calls).
 * Every thread that called block_build calls this before it exits.
 */
void block_thread_release(void);

/*
 * Parse and validate the header of the block at the start of 'in' and check the crc over the
 * whole block; *total receives the block's full length (header + payload + 4), so a caller can
 * walk consecutive blocks. Bytes after the block are ignored. TS_ERR_CORRUPT on any mismatch,
 * including a block that does not fit in 'in'.
 */
int block_parse(Slice in, BlockHeader *h, size_t *total, TsError *err);

/*
 * Decode the block at the start of 'in' (bytes after it are ignored) into caller arrays with
 * room for 'cap' points; *n receives the count. Validates the crc, the header against the
 * payload and the decoded data (count, first and last timestamp). Returns TS_OK,
 * TS_ERR_LIMIT if the block holds more than 'cap' points, TS_ERR_CORRUPT otherwise.
 * 'scratch' is caller-owned scratch for the zstd output (its contents are clobbered).
 */
int block_decode(Slice in, int64_t *ts_ns, double *values, size_t cap, size_t *n, Buf *scratch,
                 TsError *err);

#endif
