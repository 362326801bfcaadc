/*
 * Block: wraps one codec chunk (one series, up to CODEC_MAX_POINTS points) into the
 * self-checking unit that segment files store back to back. The header repeats the count and
 * the time range so that a reader can skip blocks by time without decoding them, and can walk
 * a file block by block using the lengths. zstd is applied on top of the codec only where it
 * pays (typically XOR-coded or highly repetitive chunks); most decimal chunks are already near
 * their entropy and are stored as they are.
 *
 * Pure: no I/O, no logging, no globals.
 *
 * ---------------------------------------------------------------------------------------------
 * BLOCK LAYOUT (version 1). varint = unsigned LEB128; zvarint = zigzag then varint.
 *
 *   offset  field
 *   0       magic:u8       0xC1 (BLOCK_MAGIC; a new layout gets a new magic)
 *   1       flags:u8       bit 0 BLOCK_F_ZSTD; bits 1-7 must be zero
 *   2       n_points:varint        1..65536 (CODEC_MAX_POINTS)
 *           min_ts:zvarint         first timestamp, int64 ns
 *           span:varint            max_ts - min_ts (unsigned; 0 iff n_points == 1)
 *           raw_bytes:varint       codec chunk length, 1..(64 + 32 * n_points)
 *           stored_bytes:varint    payload length: == raw_bytes without zstd,
 *                                  1..raw_bytes - 1 with zstd
 *   H       payload                stored_bytes bytes: the codec chunk (codec.c), or one zstd
 *                                  frame whose content size field equals raw_bytes
 *   H+S     crc:u32le              CRC-32C (Castagnoli) of bytes [0, H + S)
 *
 *   Total length = H + stored_bytes + 4. Validity: magic, flags, ranges above, crc; on decode
 *   also that the chunk decodes cleanly to exactly n_points points whose first and last
 *   timestamps are min_ts and min_ts + span. The raw_bytes cap bounds the memory a hostile
 *   header can make the decoder allocate (at most about 2 MiB).
 * ---------------------------------------------------------------------------------------------
 */
#include "storage/block.h"

#include "core/endian.h"
#include "core/hash.h"
#include "storage/codec.h"

#include <stdbool.h>
#include <zstd.h>

#define BLOCK_ZSTD_LEVEL 3
#define BLOCK_ZSTD_MIN_BYTES 64 /* below this a zstd frame cannot save 5% */
/* zstd is tried only when the codec left at least this many bytes per point: decimal and integer
 * chunks (about 1 byte/point) are already entropy-coded and zstd never pays on them, while XOR
 * chunks of repetitive raw doubles can shrink a lot. */
#define BLOCK_ZSTD_MIN_BYTES_PER_POINT 2

static uint64_t block_raw_cap(uint64_t n_points)
{
    return 64 + 32 * n_points;
}

/* Per-thread scratch of block_build: a reused zstd context and buffers (a fresh zstd context
 * per block costs more than the compression itself). Freed by block_thread_release. */
static _Thread_local struct {
    ZSTD_CCtx *cctx;
    Buf raw, z;
} tls;

void block_thread_release(void)
{
    ZSTD_freeCCtx(tls.cctx);
    tls.cctx = NULL;
    buf_deinit(&tls.raw);
    buf_deinit(&tls.z);
}

void block_build(const int64_t *ts_ns, const double *values, size_t n, Buf *out)
{
    Buf *raw = &tls.raw, *z = &tls.z;
    buf_clear(raw);
    buf_clear(z);
    codec_encode(ts_ns, values, n, raw);
    TS_ASSERT(raw->n >= 1 && raw->n <= block_raw_cap(n));

    const Buf *payload = raw;
    uint8_t flags = 0;
    if (raw->n >= BLOCK_ZSTD_MIN_BYTES && raw->n >= n * BLOCK_ZSTD_MIN_BYTES_PER_POINT) {
        if (!tls.cctx)
            tls.cctx = ZSTD_createCCtx();
        size_t bound = ZSTD_compressBound(raw->n);
        buf_reserve(z, bound);
        size_t zn = tls.cctx
                        ? ZSTD_compressCCtx(tls.cctx, z->p, bound, raw->p, raw->n, BLOCK_ZSTD_LEVEL)
                        : ZSTD_compress(z->p, bound, raw->p, raw->n, BLOCK_ZSTD_LEVEL);
        if (!ZSTD_isError(zn) && zn * 20 <= raw->n * 19) {
            z->n = zn;
            payload = z;
            flags = BLOCK_F_ZSTD;
        }
    }

    size_t start = out->n;
    buf_put_u8(out, BLOCK_MAGIC);
    buf_put_u8(out, flags);
    buf_put_varint(out, n);
    buf_put_varint(out, zigzag_enc(ts_ns[0]));
    buf_put_varint(out, (uint64_t)ts_ns[n - 1] - (uint64_t)ts_ns[0]);
    buf_put_varint(out, raw->n);
    buf_put_varint(out, payload->n);
    buf_append(out, payload->p, payload->n);
    buf_put_u32le(out, crc32c(out->p + start, out->n - start));
}

static int get_varint(Slice in, size_t *pos, uint64_t *v, TsError *err)
{
    size_t k = *pos < in.n ? varint_get(in.p + *pos, in.n - *pos, v) : 0;
    if (!k)
        return ts_error(err, TS_ERR_CORRUPT, *pos, "block: bad or truncated header varint");
    *pos += k;
    return TS_OK;
}

int block_parse(Slice in, BlockHeader *h, size_t *total, TsError *err)
{
    int rc;
    size_t pos = 2;
    uint64_t n, zmin, span, raw, stored;
    if (in.n < 2)
        return ts_error(err, TS_ERR_CORRUPT, 0, "block: truncated header");
    if (in.p[0] != BLOCK_MAGIC)
        return ts_error(err, TS_ERR_CORRUPT, 0, "block: bad magic 0x%02x", in.p[0]);
    if (in.p[1] & ~BLOCK_F_ZSTD)
        return ts_error(err, TS_ERR_CORRUPT, 1, "block: unknown flags 0x%02x", in.p[1]);
    if ((rc = get_varint(in, &pos, &n, err)) || (rc = get_varint(in, &pos, &zmin, err)) ||
        (rc = get_varint(in, &pos, &span, err)) || (rc = get_varint(in, &pos, &raw, err)) ||
        (rc = get_varint(in, &pos, &stored, err)))
        return rc;
    if (n < 1 || n > CODEC_MAX_POINTS)
        return ts_error(err, TS_ERR_CORRUPT, 2, "block: bad point count %llu",
                        (unsigned long long)n);
    int64_t min_ts = zigzag_dec(zmin);
    uint64_t max_u = (uint64_t)min_ts + span;
    if ((n == 1) != (span == 0) || (int64_t)max_u < min_ts)
        return ts_error(err, TS_ERR_CORRUPT, 2, "block: bad time range");
    if (raw < 1 || raw > block_raw_cap(n))
        return ts_error(err, TS_ERR_CORRUPT, 2, "block: bad raw size %llu",
                        (unsigned long long)raw);
    bool zstd = in.p[1] & BLOCK_F_ZSTD;
    if (zstd ? (stored < 1 || stored >= raw) : stored != raw)
        return ts_error(err, TS_ERR_CORRUPT, 2, "block: bad stored size %llu",
                        (unsigned long long)stored);
    if (in.n - pos < 4 || in.n - pos - 4 < stored)
        return ts_error(err, TS_ERR_CORRUPT, in.n, "block: truncated (%zu of %llu bytes)", in.n,
                        (unsigned long long)(pos + stored + 4));
    size_t body = pos + (size_t)stored;
    uint32_t want = get_u32le(in.p + body);
    if (crc32c(in.p, body) != want)
        return ts_error(err, TS_ERR_CORRUPT, body, "block: crc mismatch");
    h->n_points = (uint32_t)n;
    h->min_ts_ns = min_ts;
    h->max_ts_ns = (int64_t)max_u;
    h->raw_bytes = (uint32_t)raw;
    h->stored_bytes = (uint32_t)stored;
    h->flags = in.p[1];
    h->header_bytes = pos;
    *total = body + 4;
    return TS_OK;
}

int block_decode(Slice in, int64_t *ts_ns, double *values, size_t cap, size_t *n, Buf *scratch,
                 TsError *err)
{
    int rc;
    BlockHeader h;
    size_t total, cnt;
    if ((rc = block_parse(in, &h, &total, err)))
        return rc;
    if (h.n_points > cap)
        return ts_error(err, TS_ERR_LIMIT, 2, "block: %u points exceed room for %zu", h.n_points,
                        cap);
    Slice chunk = slice_make(in.p + h.header_bytes, h.stored_bytes);
    if (h.flags & BLOCK_F_ZSTD) {
        unsigned long long fcs = ZSTD_getFrameContentSize(chunk.p, chunk.n);
        if (fcs != h.raw_bytes)
            return ts_error(err, TS_ERR_CORRUPT, h.header_bytes,
                            "block: zstd content size does not match the header");
        buf_clear(scratch);
        buf_reserve(scratch, h.raw_bytes);
        size_t got = ZSTD_decompress(scratch->p, h.raw_bytes, chunk.p, chunk.n);
        if (ZSTD_isError(got) || got != h.raw_bytes)
            return ts_error(err, TS_ERR_CORRUPT, h.header_bytes, "block: zstd: %s",
                            ZSTD_isError(got) ? ZSTD_getErrorName(got) : "short output");
        scratch->n = got;
        chunk = slice_make(scratch->p, got);
    }
    rc = codec_decode(chunk, ts_ns, values, cap, &cnt, err);
    if (rc) {
        if (err)
            err->pos += h.header_bytes; /* approximate when zstd was used */
        return rc == TS_ERR_LIMIT ? TS_ERR_CORRUPT : rc;
    }
    if (cnt != h.n_points || ts_ns[0] != h.min_ts_ns || ts_ns[cnt - 1] != h.max_ts_ns)
        return ts_error(err, TS_ERR_CORRUPT, 2, "block: header does not match the data");
    *n = cnt;
    return TS_OK;
}
