/*
 * Point codec: compresses one chunk of (timestamp, value) points of one series.
 *
 * Timestamps are coded as delta-of-delta over their common unit; values as integer deltas of a
 * decimal scaling when every value is an exact short decimal, XOR (Gorilla-style) otherwise.
 * The exact bit layout is documented at the top of codec.c and in docs/codec.md.
 *
 * Pure: no I/O, no logging, no mutable globals. Safe to call from any thread. Decoding treats
 * its input as untrusted: malformed bytes give TS_ERR_CORRUPT, never a crash or a long loop.
 */
#ifndef CAIRN_STORAGE_CODEC_H
#define CAIRN_STORAGE_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/slice.h"
#include "core/status.h"

#define CODEC_MAX_POINTS 65536

/*
 * Encode n points (1 <= n <= CODEC_MAX_POINTS) and append the chunk to 'out'.
 *
 * Timestamps must be strictly ascending int64 nanoseconds (checked with TS_ASSERT: a violation
 * is a caller bug, not an input error). Values may be any IEEE doubles; Inf, -0.0 and NaN
 * payloads round-trip bit-exactly. 'ts_ns' and 'values' are borrowed; 'out' is grown as needed.
 */
void codec_encode(const int64_t *ts_ns, const double *values, size_t n, Buf *out);

/*
 * Fast mode of codec_encode: the same preconditions and the same chunk format (codec_decode
 * reads it), but no planning: decimal values whenever every value is an exact short decimal,
 * XOR otherwise; both integer sequences are first differences coded with a fixed width (Rice
 * with k = the bit width of the residual range, or CONST). A few times quicker to write than
 * codec_encode and about one bit per point larger on noisy decimal data; meant for chunks that
 * are re-encoded later (the memtable's sealed heads). No heap allocation for n <= 128.
 */
void codec_encode_fast(const int64_t *ts_ns, const double *values, size_t n, Buf *out);

/*
 * Read the point count of an encoded chunk from its header (does not decode or validate the
 * rest). Returns TS_OK, or TS_ERR_CORRUPT if the header is garbage.
 */
int codec_count(Slice in, size_t *n, TsError *err);

/*
 * Decode the chunk that is exactly 'in' into caller arrays with room for 'cap' points; *n
 * receives the count. Returns TS_OK; TS_ERR_LIMIT if the chunk holds more than 'cap' points;
 * TS_ERR_CORRUPT for any malformed, truncated or trailing-garbage input (err->pos is the byte
 * offset where the problem was noticed). On error the arrays' contents are unspecified.
 */
int codec_decode(Slice in, int64_t *ts_ns, double *values, size_t cap, size_t *n, TsError *err);

#endif
