/*
 * libFuzzer target for storage/event_block.
 *
 * 1. Hostile bytes: the input is fed to event_block_decode and event_block_parse; neither may
 *    crash, leak or hit UB, and a decode that fails must leave its output untouched.
 * 2. Round trip: the input is also read as a description of events (time steps and texts cut
 *    from the input); they are built into blocks with event_block_build, decoded again and
 *    compared byte-exactly; any mismatch aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "storage/event_block.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Slice in = slice_make(data, size);
    EventVec out;
    event_vec_init(&out);
    event_vec_push(&out, 42, slice_cstr("keep"));
    TsError err = {0};
    if (event_block_decode(in, &out, &err) != TS_OK && (out.n != 1 || out.text.n != 4))
        abort();
    EventBlockHeader h;
    size_t total;
    (void)event_block_parse(in, &h, &total, &err);

    /* Round trip: byte 2k is a time step, byte 2k+1 a text length (texts taken from data). */
    EventVec ev;
    event_vec_init(&ev);
    int64_t ts = size ? (int64_t)data[0] * 1000000007LL - 100000000000LL : 0;
    for (size_t k = 0; k + 1 < size && ev.n < 3 * EVENT_BLOCK_MAX_EVENTS / 2; k += 2) {
        ts += 1 + data[k] * 997;
        size_t len = data[k + 1] % 64;
        if (len > size)
            len = size;
        event_vec_push(&ev, ts, slice_make(data + (size - len), len));
    }
    Buf blk;
    buf_init(&blk);
    event_vec_clear(&out);
    for (size_t from = 0; from < ev.n;) {
        size_t n = event_block_span(&ev, from);
        buf_clear(&blk);
        event_block_build(&ev, from, n, &blk);
        if (event_block_decode(slice_make(blk.p, blk.n), &out, &err) != TS_OK)
            abort();
        from += n;
    }
    if (out.n != ev.n)
        abort();
    for (size_t i = 0; i < ev.n; i++) {
        Slice a = event_vec_text(&ev, i), b = event_vec_text(&out, i);
        if (ev.ts_ns[i] != out.ts_ns[i] || !slice_eq(a, b))
            abort();
    }
    buf_deinit(&blk);
    event_vec_deinit(&ev);
    event_vec_deinit(&out);
    return 0;
}
