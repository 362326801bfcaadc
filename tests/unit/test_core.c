/*
 * core/ tests: Akumuli timestamps (parse and format), varints and zigzag, Buf, CRC-32C known
 * vectors (hardware and table paths must agree), hash64 stability within a run, arena caps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/endian.h"
#include "core/hash.h"
#include "core/time.h"

#include <string.h>

static int64_t iso(const char *s, int *rc)
{
    int64_t ns = -1;
    TsError err = {0};
    *rc = ts_parse_iso(slice_cstr(s), &ns, &err);
    if (*rc != TS_OK)
        assert_string_equal(err.msg, "unknown timestamp format");
    return ns;
}

static void test_parse_iso(void **state)
{
    int rc;
    assert_int_equal(iso("20170714T024000", &rc), INT64_C(1500000000000000000));
    assert_int_equal(rc, TS_OK);
    assert_int_equal(iso("20170714T024007.5", &rc), INT64_C(1500000007500000000));
    assert_int_equal(iso("20170714T024007,123456789", &rc), INT64_C(1500000007123456789));
    /* A 10th fraction digit spills into the seconds, as in Akumuli. */
    assert_int_equal(iso("19700101T000000.1234567891", &rc), INT64_C(1234567891));
    /* Short strings and strings without 'T' at index 8 are integer nanoseconds. */
    assert_int_equal(iso("1418224205", &rc), INT64_C(1418224205));
    assert_int_equal(iso("+1500000000000000000", &rc), INT64_C(1500000000000000000));
    iso("2014-12-10 07:43:43", &rc);
    assert_int_equal(rc, TS_ERR_PROTO);
    iso("20171314T000000", &rc); /* month 13 */
    assert_int_equal(rc, TS_ERR_PROTO);
    iso("20170230T000000", &rc); /* 30 February */
    assert_int_equal(rc, TS_ERR_PROTO);
    iso("30170714T024002", &rc); /* does not fit int64 ns */
    assert_int_equal(rc, TS_ERR_PROTO);
    iso("", &rc);
    assert_int_equal(rc, TS_ERR_PROTO);
    iso("99999999999999999999", &rc); /* integer overflow */
    assert_int_equal(rc, TS_ERR_PROTO);
    assert_int_equal(iso("20000229T235959", &rc), INT64_C(951868799000000000));
}

static void test_format_iso(void **state)
{
    char out[32];
    assert_int_equal(ts_format_iso(INT64_C(1500000007000000000), out), 25);
    assert_string_equal(out, "20170714T024007.000000000");
    ts_format_iso(0, out);
    assert_string_equal(out, "19700101T000000.000000000");
    ts_format_iso(-1, out);
    assert_string_equal(out, "19691231T235959.999999999");
    /* Round trip over a spread of instants. */
    for (int64_t ns = -INT64_C(2000000000000000000); ns < INT64_C(4000000000000000000);
         ns += INT64_C(123456789012345678)) {
        int rc;
        ts_format_iso(ns, out);
        assert_int_equal(iso(out, &rc), ns);
    }
}

static void test_varint_zigzag(void **state)
{
    uint64_t vals[] = {0, 1, 127, 128, 16383, 16384, UINT64_MAX / 3, UINT64_MAX};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        uint8_t b[10];
        size_t n = varint_put(b, vals[i]);
        uint64_t back;
        assert_int_equal(varint_get(b, n, &back), n);
        assert_true(back == vals[i]);
        assert_int_equal(varint_get(b, n - 1, &back), 0); /* truncated */
    }
    uint8_t over[11];
    memset(over, 0xff, sizeof(over));
    uint64_t v;
    assert_int_equal(varint_get(over, sizeof(over), &v), 0); /* longer than 10 bytes */
    int64_t zz[] = {0, -1, 1, INT64_MIN, INT64_MAX};
    for (size_t i = 0; i < 5; i++)
        assert_true(zigzag_dec(zigzag_enc(zz[i])) == zz[i]);
    assert_int_equal(zigzag_enc(-1), 1);
}

static void test_crc32c(void **state)
{
    /* Known vector: CRC-32C("123456789") = 0xE3069283. */
    assert_int_equal(crc32c("123456789", 9), 0xE3069283u);
    uint8_t zeros[32] = {0};
    assert_int_equal(crc32c(zeros, 32), 0x8A9136AAu);
    /* Extending piecewise equals one pass, at every split point. */
    const char *s = "The quick brown fox jumps over the lazy dog, twice over.";
    size_t n = strlen(s);
    for (size_t k = 0; k <= n; k++)
        assert_int_equal(crc32c_extend(crc32c(s, k), s + k, n - k), crc32c(s, n));
    assert_true(hash64("abc", 3) == hash64("abc", 3));
    assert_true(hash64("abc", 3) != hash64("abd", 3));
}

static void test_buf_and_arena(void **state)
{
    Buf b;
    buf_init(&b);
    for (int i = 0; i < 1000; i++)
        buf_printf(&b, "%d,", i);
    buf_printf(&b, "%s", "x");
    assert_int_equal(b.n, 3891);
    assert_memory_equal(b.p, "0,1,2,", 6);
    buf_clear(&b);
    char big[1000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    buf_printf(&b, "<%s>", big); /* longer than the printf fast path */
    assert_int_equal(b.n, 1001);
    buf_deinit(&b);

    Arena a;
    arena_init(&a, 200 * 1024);
    assert_non_null(arena_alloc(&a, 100));
    assert_non_null(arena_alloc(&a, 100 * 1024));
    assert_null(arena_alloc(&a, 150 * 1024)); /* past the cap */
    arena_reset(&a);
    assert_non_null(arena_alloc(&a, 1000));
    arena_deinit(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_iso),     cmocka_unit_test(test_format_iso),
        cmocka_unit_test(test_varint_zigzag), cmocka_unit_test(test_crc32c),
        cmocka_unit_test(test_buf_and_arena),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
