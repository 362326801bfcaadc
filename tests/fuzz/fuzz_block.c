/*
 * libFuzzer target for storage/block and storage/codec.
 *
 * 1. Hostile bytes: the input is fed to block_decode, to a block walk with block_parse and to
 *    codec_decode; none may crash, leak or hit UB, whatever they return.
 * 2. Round trip: the input is also read as a description of points (start time, time steps,
 *    values in one of several shapes); they are encoded with block_build, codec_encode and
 *    codec_encode_fast, decoded again and compared bit-exactly; any mismatch aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/endian.h"
#include "storage/block.h"
#include "storage/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int64_t in_ts[CODEC_MAX_POINTS], out_ts[CODEC_MAX_POINTS];
static double in_v[CODEC_MAX_POINTS], out_v[CODEC_MAX_POINTS];

static const double P10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                             1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

typedef struct Reader {
    const uint8_t *p;
    size_t n, pos;
} Reader;

static uint64_t take(Reader *r, unsigned bytes) /* little-endian, zero past the end */
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++, r->pos++)
        if (r->pos < r->n)
            v |= (uint64_t)r->p[r->pos] << (8 * i);
    return v;
}

static void hostile(const uint8_t *data, size_t size)
{
    Buf scratch;
    buf_init(&scratch);
    size_t n, total;
    TsError err;
    BlockHeader h;
    (void)block_decode(slice_make(data, size), out_ts, out_v, CODEC_MAX_POINTS, &n, &scratch, &err);
    for (size_t off = 0; off < size;) {
        if (block_parse(slice_make(data + off, size - off), &h, &total, &err))
            break;
        off += total;
    }
    (void)codec_count(slice_make(data, size), &n, &err);
    (void)codec_decode(slice_make(data, size), out_ts, out_v, CODEC_MAX_POINTS, &n, &err);
    buf_deinit(&scratch);
}

static size_t make_points(const uint8_t *data, size_t size)
{
    Reader r = {data, size, 0};
    unsigned mode = (unsigned)take(&r, 1);
    unsigned tsmode = (mode >> 2) & 3, scale = (unsigned)take(&r, 1) % 16;
    int64_t t = (int64_t)take(&r, 8);
    int64_t step = (int64_t)(take(&r, 4) & 0xffffff) + 1;
    int64_t k = (int64_t)(int32_t)take(&r, 4);
    size_t n = 0;
    while (n < CODEC_MAX_POINTS && r.pos < r.n) {
        in_ts[n] = t;
        switch (mode & 3) {
        case 0:
            in_v[n] = bits_double(take(&r, 8));
            break;
        case 1:
            in_v[n] = (double)(int16_t)take(&r, 2) / P10[scale];
            break;
        case 2:
            k += (int8_t)take(&r, 1);
            in_v[n] = (double)k / P10[scale];
            break;
        default:
            in_v[n] = (take(&r, 1) & 1) ? bits_double(take(&r, 8)) : (double)(n % 7);
            break;
        }
        n++;
        uint64_t delta = tsmode == 0   ? (uint64_t)step
                         : tsmode == 1 ? (uint64_t)step * (1 + take(&r, 1) % 4)
                         : tsmode == 2 ? (uint64_t)step + take(&r, 1)
                                       : 1 + (take(&r, 8) >> 1);
        int64_t next;
        if (delta > INT64_MAX || __builtin_add_overflow(t, (int64_t)delta, &next))
            break;
        t = next;
    }
    return n;
}

static void roundtrip(size_t n)
{
    Buf b, scratch;
    buf_init(&b);
    buf_init(&scratch);
    size_t got = 0;
    TsError err;
    block_build(in_ts, in_v, n, &b);
    if (block_decode(slice_make(b.p, b.n), out_ts, out_v, n, &got, &scratch, &err) != TS_OK ||
        got != n || memcmp(in_ts, out_ts, n * sizeof(int64_t)) ||
        memcmp(in_v, out_v, n * sizeof(double)))
        abort();
    buf_clear(&b);
    codec_encode(in_ts, in_v, n, &b);
    if (codec_decode(slice_make(b.p, b.n), out_ts, out_v, n, &got, &err) != TS_OK || got != n ||
        memcmp(in_ts, out_ts, n * sizeof(int64_t)) || memcmp(in_v, out_v, n * sizeof(double)))
        abort();
    buf_clear(&b);
    codec_encode_fast(in_ts, in_v, n, &b);
    if (codec_decode(slice_make(b.p, b.n), out_ts, out_v, n, &got, &err) != TS_OK || got != n ||
        memcmp(in_ts, out_ts, n * sizeof(int64_t)) || memcmp(in_v, out_v, n * sizeof(double)))
        abort();
    buf_deinit(&b);
    buf_deinit(&scratch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    hostile(data, size);
    size_t n = make_points(data, size);
    if (n >= 1)
        roundtrip(n);
    return 0;
}
