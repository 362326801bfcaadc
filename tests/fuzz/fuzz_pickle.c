/*
 * libFuzzer harness for the Graphite pickle decoder: the input is one frame payload, decoded
 * with small limits and a 1 MiB arena as the pickle listener would. Invariants checked: a
 * rejected frame never reports a point, error offsets stay inside the frame, every reported
 * name lies inside the frame or the arena's lifetime (it is read in full, so ASan catches a
 * bad Slice), and points never outnumber the walk budget. Any crash, leak, sanitizer report
 * or broken invariant is a bug.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/arena.h"
#include "proto/pickle.h"

#define FUZZ_ARENA_CAP (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct FuzzSink {
    size_t points;
    uint64_t sum; /* touches every name byte */
} FuzzSink;

static void check(int ok)
{
    if (!ok)
        abort();
}

static int on_point(void *ctx, Slice name, double ts_s, double value)
{
    FuzzSink *s = ctx;
    for (size_t i = 0; i < name.n; i++)
        s->sum += name.p[i];
    s->points++;
    return TS_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    PickleLimits lim = {16, 4096, 1024};
    Arena arena;
    FuzzSink sink = {0, 0};
    size_t skipped = 0;
    TsError err;

    arena_init(&arena, FUZZ_ARENA_CAP);
    int rc =
        pickle_decode_points(slice_make(data, size), &lim, &arena, on_point, &sink, &skipped, &err);
    if (rc == TS_OK) {
        check(sink.points + skipped <= lim.max_items);
    } else {
        check(rc == TS_ERR_PROTO || rc == TS_ERR_LIMIT);
        check(sink.points == 0 && skipped == 0);
        check(err.pos <= size);
        check(err.msg[0] != '\0');
    }
    arena_deinit(&arena);
    return 0;
}
