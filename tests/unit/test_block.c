/*
 * Unit tests for storage/block: round trips with and without zstd, walking concatenated blocks,
 * truncation, bit flips (caught by the crc), hostile headers with valid crcs, and header/data
 * mismatches.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/endian.h"
#include "core/hash.h"
#include "storage/block.h"
#include "storage/codec.h"

#define T0 1700000000000000000LL
#define SEC 1000000000LL
#define CAP 4096

static uint64_t rng_state;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static int64_t g_ts[CAP];
static double g_v[CAP];
static int64_t d_ts[CAP];
static double d_v[CAP];

/* kind 0: decimal walk; 1: random doubles; 2: few repeating non-decimals (zstd pays) */
static size_t make_points(int kind, size_t n)
{
    rng_state = 0x1234567 + (uint64_t)kind;
    int64_t k = 5000;
    const double pool[3] = {0.1 + 0.2, 1.0 / 3.0, 2.0 / 7.0};
    for (size_t i = 0; i < n; i++) {
        g_ts[i] = T0 + (int64_t)i * 10 * SEC;
        switch (kind) {
        case 0:
            g_v[i] = (double)k / 100.0;
            k += (int64_t)(rng() % 101) - 50;
            break;
        case 1:
            g_v[i] = bits_double(rng());
            break;
        default:
            g_v[i] = pool[(i / 3) % 3];
            break;
        }
    }
    return n;
}

static void check_roundtrip(const uint8_t *p, size_t len, size_t n)
{
    Buf scratch;
    buf_init(&scratch);
    size_t got = 0;
    TsError err;
    int rc = block_decode(slice_make(p, len), d_ts, d_v, CAP, &got, &scratch, &err);
    if (rc)
        fail_msg("block_decode: %s at %zu", err.msg, err.pos);
    assert_int_equal(got, n);
    assert_memory_equal(d_ts, g_ts, n * sizeof(int64_t));
    assert_memory_equal(d_v, g_v, n * sizeof(double));
    buf_deinit(&scratch);
}

static void test_roundtrip(void **state)
{
    (void)state;
    const size_t sizes[] = {1, 2, 3, 100, 1000, CAP};
    for (int kind = 0; kind < 3; kind++) {
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
            size_t n = make_points(kind, sizes[s]);
            Buf b;
            buf_init(&b);
            block_build(g_ts, g_v, n, &b);
            BlockHeader h;
            size_t total;
            TsError err;
            assert_int_equal(block_parse(slice_make(b.p, b.n), &h, &total, &err), TS_OK);
            assert_int_equal(total, b.n);
            assert_int_equal(h.n_points, n);
            assert_true(h.min_ts_ns == g_ts[0] && h.max_ts_ns == g_ts[n - 1]);
            assert_int_equal(h.header_bytes + h.stored_bytes + 4, b.n);
            if (kind == 2 && n >= 1000)
                assert_true(h.flags & BLOCK_F_ZSTD);
            if (kind == 1)
                assert_false(h.flags & BLOCK_F_ZSTD); /* random bits never compress 5% */
            if (h.flags & BLOCK_F_ZSTD)
                assert_true(h.stored_bytes * 20 <= h.raw_bytes * 19);
            else
                assert_int_equal(h.stored_bytes, h.raw_bytes);
            check_roundtrip(b.p, b.n, n);
            if (kind == 0 && n == 1000)
                print_message("block: random walk 2 decimals, 1000 points: %zu bytes, %.3f "
                              "bits/point (header %zu bytes + crc 4)\n",
                              b.n, (double)b.n * 8 / 1000.0, h.header_bytes);
            buf_deinit(&b);
        }
    }
}

static void test_walk_blocks(void **state)
{
    (void)state;
    Buf b;
    buf_init(&b);
    size_t counts[3] = {10, 1, 500};
    for (int i = 0; i < 3; i++) {
        make_points(i, counts[i]);
        block_build(g_ts, g_v, counts[i], &b);
    }
    size_t off = 0;
    for (int i = 0; i < 3; i++) {
        BlockHeader h;
        size_t total;
        TsError err;
        Slice rest = slice_make(b.p + off, b.n - off);
        assert_int_equal(block_parse(rest, &h, &total, &err), TS_OK);
        assert_int_equal(h.n_points, counts[i]);
        make_points(i, counts[i]);
        check_roundtrip(rest.p, rest.n, counts[i]); /* trailing blocks are ignored */
        off += total;
    }
    assert_int_equal(off, b.n);
    buf_deinit(&b);
}

static void test_truncation_and_flips(void **state)
{
    (void)state;
    for (int kind = 0; kind < 3; kind++) {
        size_t n = make_points(kind, 120);
        Buf b;
        buf_init(&b);
        block_build(g_ts, g_v, n, &b);
        Buf scratch;
        buf_init(&scratch);
        size_t got, total;
        BlockHeader h;
        TsError err;
        for (size_t len = 0; len < b.n; len++) {
            uint8_t *copy = ts_malloc(len ? len : 1);
            memcpy(copy, b.p, len);
            assert_int_equal(block_parse(slice_make(copy, len), &h, &total, &err), TS_ERR_CORRUPT);
            assert_int_equal(
                block_decode(slice_make(copy, len), d_ts, d_v, CAP, &got, &scratch, &err),
                TS_ERR_CORRUPT);
            ts_free(copy);
        }
        uint8_t *copy = ts_malloc(b.n);
        for (size_t bit = 0; bit < b.n * 8; bit++) {
            memcpy(copy, b.p, b.n);
            copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            int rc = block_decode(slice_make(copy, b.n), d_ts, d_v, CAP, &got, &scratch, &err);
            if (rc != TS_ERR_CORRUPT)
                fail_msg("kind %d: flip of bit %zu not caught (rc %d)", kind, bit, rc);
        }
        ts_free(copy);
        buf_deinit(&scratch);
        buf_deinit(&b);
    }
}

/* Append a header with the given fields, 'payload', and a correct crc. */
static void forge(Buf *b, uint8_t flags, uint64_t n, int64_t min_ts, uint64_t span, uint64_t raw,
                  const uint8_t *payload, size_t stored)
{
    buf_clear(b);
    buf_put_u8(b, BLOCK_MAGIC);
    buf_put_u8(b, flags);
    buf_put_varint(b, n);
    buf_put_varint(b, zigzag_enc(min_ts));
    buf_put_varint(b, span);
    buf_put_varint(b, raw);
    buf_put_varint(b, stored);
    buf_append(b, payload, stored);
    buf_put_u32le(b, crc32c(b->p, b->n));
}

static void test_hostile_headers(void **state)
{
    (void)state;
    Buf b, scratch;
    buf_init(&b);
    buf_init(&scratch);
    size_t got, total;
    BlockHeader h;
    TsError err;
    uint8_t junk[64];
    memset(junk, 0xAB, sizeof(junk));

    /* giant counts and sizes, valid crc: rejected from the header, nothing allocated */
    forge(&b, BLOCK_F_ZSTD, (uint64_t)1 << 32, 0, 1, (uint64_t)1 << 40, junk, 16);
    assert_int_equal(block_decode(slice_make(b.p, b.n), d_ts, d_v, CAP, &got, &scratch, &err),
                     TS_ERR_CORRUPT);
    forge(&b, BLOCK_F_ZSTD, CODEC_MAX_POINTS, 0, 1, (uint64_t)1 << 31, junk, 16);
    assert_int_equal(block_parse(slice_make(b.p, b.n), &h, &total, &err), TS_ERR_CORRUPT);
    assert_int_equal(block_decode(slice_make(b.p, b.n), d_ts, d_v, CAP, &got, &scratch, &err),
                     TS_ERR_CORRUPT);
    /* more points than the caller has room for: LIMIT before any decompression */
    forge(&b, BLOCK_F_ZSTD, CODEC_MAX_POINTS, 0, 1, 1000, junk, 16);
    assert_int_equal(block_parse(slice_make(b.p, b.n), &h, &total, &err), TS_OK);
    assert_int_equal(block_decode(slice_make(b.p, b.n), d_ts, d_v, CAP, &got, &scratch, &err),
                     TS_ERR_LIMIT);
    assert_int_equal(scratch.cap, 0);
    /* zstd flag with a garbage frame */
    forge(&b, BLOCK_F_ZSTD, 10, 0, 1, 1000, junk, 16);
    assert_int_equal(block_decode(slice_make(b.p, b.n), d_ts, d_v, CAP, &got, &scratch, &err),
                     TS_ERR_CORRUPT);
    assert_int_equal(scratch.cap, 0);
    /* bad magic, unknown flag, stored != raw without zstd, stored >= raw with zstd */
    forge(&b, 0, 10, 0, 1, 16, junk, 16);
    b.p[0] = 0xC2;
    assert_int_equal(block_parse(slice_make(b.p, b.n), &h, &total, &err), TS_ERR_CORRUPT);
    forge(&b, 0x80, 10, 0, 1, 16, junk, 16);
    assert_int_equal(block_parse(slice_make(b.p, b.n), &h, &total, &err), TS_ERR_CORRUPT);
    forge(&b, 0, 10, 0, 1, 17, junk, 16);
    assert_int_equal(block_parse(slice_make(b.p, b.n), &h, &total, &err), TS_ERR_CORRUPT);
    forge(&b, BLOCK_F_ZSTD, 10, 0, 1, 16, junk, 16);
    assert_int_equal(block_parse(slice_make(b.p, b.n), &h, &total, &err), TS_ERR_CORRUPT);
    /* time range: one point needs span 0, several need span > 0, no wrap past INT64_MAX */
    forge(&b, 0, 1, 0, 5, 16, junk, 16);
    assert_int_equal(block_parse(slice_make(b.p, b.n), &h, &total, &err), TS_ERR_CORRUPT);
    forge(&b, 0, 2, 0, 0, 16, junk, 16);
    assert_int_equal(block_parse(slice_make(b.p, b.n), &h, &total, &err), TS_ERR_CORRUPT);
    forge(&b, 0, 2, INT64_MAX - 1, 2, 16, junk, 16);
    assert_int_equal(block_parse(slice_make(b.p, b.n), &h, &total, &err), TS_ERR_CORRUPT);
    /* plain payload that is not a chunk */
    forge(&b, 0, 10, 0, 1, 16, junk, 16);
    assert_int_equal(block_parse(slice_make(b.p, b.n), &h, &total, &err), TS_OK);
    assert_int_equal(block_decode(slice_make(b.p, b.n), d_ts, d_v, CAP, &got, &scratch, &err),
                     TS_ERR_CORRUPT);
    buf_deinit(&b);
    buf_deinit(&scratch);
}

static void test_header_data_mismatch(void **state)
{
    (void)state;
    size_t n = make_points(0, 50);
    Buf chunk, b, scratch;
    buf_init(&chunk);
    buf_init(&b);
    buf_init(&scratch);
    codec_encode(g_ts, g_v, n, &chunk);
    size_t got;
    TsError err;
    int64_t span = g_ts[n - 1] - g_ts[0];
    /* correct forgery decodes */
    forge(&b, 0, n, g_ts[0], (uint64_t)span, chunk.n, chunk.p, chunk.n);
    assert_int_equal(block_decode(slice_make(b.p, b.n), d_ts, d_v, CAP, &got, &scratch, &err),
                     TS_OK);
    assert_int_equal(got, n);
    /* wrong count, wrong min, wrong max: each caught although the crc is right */
    forge(&b, 0, n + 1, g_ts[0], (uint64_t)span, chunk.n, chunk.p, chunk.n);
    assert_int_equal(block_decode(slice_make(b.p, b.n), d_ts, d_v, CAP, &got, &scratch, &err),
                     TS_ERR_CORRUPT);
    forge(&b, 0, n, g_ts[0] + 1, (uint64_t)span - 1, chunk.n, chunk.p, chunk.n);
    assert_int_equal(block_decode(slice_make(b.p, b.n), d_ts, d_v, CAP, &got, &scratch, &err),
                     TS_ERR_CORRUPT);
    forge(&b, 0, n, g_ts[0], (uint64_t)span + 1, chunk.n, chunk.p, chunk.n);
    assert_int_equal(block_decode(slice_make(b.p, b.n), d_ts, d_v, CAP, &got, &scratch, &err),
                     TS_ERR_CORRUPT);
    /* cap below the count */
    forge(&b, 0, n, g_ts[0], (uint64_t)span, chunk.n, chunk.p, chunk.n);
    assert_int_equal(block_decode(slice_make(b.p, b.n), d_ts, d_v, n - 1, &got, &scratch, &err),
                     TS_ERR_LIMIT);
    buf_deinit(&chunk);
    buf_deinit(&b);
    buf_deinit(&scratch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_walk_blocks),
        cmocka_unit_test(test_truncation_and_flips),
        cmocka_unit_test(test_hostile_headers),
        cmocka_unit_test(test_header_data_mismatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
