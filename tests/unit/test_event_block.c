/*
 * Event block tests: round trips (one event, many, texts that compress, empty texts, block
 * splitting by count and by text size), and that every kind of damage is refused without
 * touching the output: truncation, each flipped byte, a lying header.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/endian.h"
#include "core/hash.h"
#include "storage/event_block.h"

#include <stdio.h>
#include <string.h>

static void roundtrip(const EventVec *ev, size_t from, size_t n)
{
    Buf blk;
    buf_init(&blk);
    event_block_build(ev, from, n, &blk);
    assert_true(event_block_is(slice_make(blk.p, blk.n)));
    EventBlockHeader h;
    size_t total = 0;
    TsError err = {0};
    assert_int_equal(event_block_parse(slice_make(blk.p, blk.n), &h, &total, &err), TS_OK);
    assert_int_equal(total, blk.n);
    assert_int_equal(h.n_events, n);
    assert_true(h.min_ts_ns == ev->ts_ns[from]);
    assert_true(h.max_ts_ns == ev->ts_ns[from + n - 1]);
    EventVec out;
    event_vec_init(&out);
    assert_int_equal(event_block_decode(slice_make(blk.p, blk.n), &out, &err), TS_OK);
    assert_int_equal(out.n, n);
    for (size_t i = 0; i < n; i++) {
        assert_true(out.ts_ns[i] == ev->ts_ns[from + i]);
        assert_true(slice_eq(event_vec_text(&out, i), event_vec_text(ev, from + i)));
    }
    event_vec_deinit(&out);
    buf_deinit(&blk);
}

static void test_roundtrip(void **state)
{
    EventVec ev;
    event_vec_init(&ev);
    event_vec_push(&ev, -5, slice_cstr("one event, negative time"));
    roundtrip(&ev, 0, 1);
    event_vec_clear(&ev);
    char text[128];
    for (int i = 0; i < 1000; i++) {
        snprintf(text, sizeof(text), "%d event !foo A=1 B=1 for %d generated", i, 1000 * i);
        event_vec_push(&ev, 1418224300000000000LL + (int64_t)i * 1000000000LL,
                       slice_make((const uint8_t *)text, (size_t)(i % 7 == 0 ? 0 : strlen(text))));
    }
    roundtrip(&ev, 0, 1000);
    roundtrip(&ev, 10, 3);
    /* Repetitive texts are stored compressed. */
    Buf blk;
    buf_init(&blk);
    event_block_build(&ev, 0, 1000, &blk);
    assert_true(blk.n < ev.text.n / 2);
    assert_int_equal(blk.p[1] & 1, 1);
    buf_deinit(&blk);
    event_vec_deinit(&ev);
}

static void test_span_limits(void **state)
{
    EventVec ev;
    event_vec_init(&ev);
    static uint8_t big[EVENT_TEXT_MAX];
    memset(big, 'x', sizeof(big));
    for (int i = 0; i < 40; i++)
        event_vec_push(&ev, i, slice_make(big, sizeof(big)));
    /* 1 MiB of text per block: 16 texts of 64 KiB reach it. */
    assert_int_equal(event_block_span(&ev, 0), 16);
    assert_int_equal(event_block_span(&ev, 32), 8);
    roundtrip(&ev, 0, 16);
    event_vec_clear(&ev);
    for (int i = 0; i < EVENT_BLOCK_MAX_EVENTS + 10; i++)
        event_vec_push(&ev, i, slice_cstr("e"));
    assert_int_equal(event_block_span(&ev, 0), EVENT_BLOCK_MAX_EVENTS);
    assert_int_equal(event_block_span(&ev, EVENT_BLOCK_MAX_EVENTS), 10);
    event_vec_deinit(&ev);
}

/* Every truncation and every single-byte change is refused and leaves the output alone. */
static void test_damage_refused(void **state)
{
    EventVec ev;
    event_vec_init(&ev);
    event_vec_push(&ev, 1000, slice_cstr("alpha"));
    event_vec_push(&ev, 2000, slice_cstr("beta gamma"));
    event_vec_push(&ev, 5000, slice_cstr(""));
    Buf blk;
    buf_init(&blk);
    event_block_build(&ev, 0, 3, &blk);
    EventVec out;
    event_vec_init(&out);
    event_vec_push(&out, 1, slice_cstr("before"));
    TsError err = {0};
    for (size_t cut = 0; cut < blk.n; cut++)
        assert_int_equal(event_block_decode(slice_make(blk.p, cut), &out, &err), TS_ERR_CORRUPT);
    for (size_t i = 0; i < blk.n; i++) {
        blk.p[i] ^= 0x24;
        assert_int_equal(event_block_decode(slice_make(blk.p, blk.n), &out, &err),
                         TS_ERR_CORRUPT);
        blk.p[i] ^= 0x24;
    }
    assert_int_equal(out.n, 1);
    assert_int_equal(out.text.n, 6);
    /* A header that lies about the span, with a correct crc, is caught by the payload check. */
    size_t n = blk.n - 4;
    /* bytes: magic, flags, n (1), min_ts zigzag 2000 (2), span 4000 (2): raise the span by 1 */
    assert_int_equal(blk.p[5], 0xA0);
    blk.p[5] = 0xA1;
    put_u32le(blk.p + n, crc32c(blk.p, n));
    assert_int_equal(event_block_decode(slice_make(blk.p, blk.n), &out, &err), TS_ERR_CORRUPT);
    assert_int_equal(out.n, 1);
    /* A numeric block's magic is not an event block. */
    uint8_t c1[] = {0xC1, 0};
    assert_false(event_block_is(slice_make(c1, 2)));
    event_vec_deinit(&out);
    buf_deinit(&blk);
    event_vec_deinit(&ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_span_limits),
        cmocka_unit_test(test_damage_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
