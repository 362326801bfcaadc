/*
 * libFuzzer harness for the Graphite pickle decoder: the input is one frame payload, decoded
 * with small limits and a 1 MiB arena as the pickle listener would. Invariants checked: a
 * rejected frame never reports a point, error offsets stay inside the frame, every reported
 * name lies inside the frame or the arena's lifetime (it is read in full, so ASan catches a
 * bad Slice), and points never outnumber the walk budget. Every input is also decoded by
 * pickle_decode_points_general (no fast path) with the same limits and an arena of the same
 * cap, once with the 1 MiB arena and once with a 72 KiB one (where the general machine runs
 * out first): status, skipped count, error offset and message, and every point (name bytes,
 * and offset when it lies in the frame; ts and value bits; in order) must be the same. Any crash,
 * leak, sanitizer report or broken invariant is a bug.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/endian.h"
#include "proto/pickle.h"

#define FUZZ_ARENA_CAP (1u << 20)
#define FUZZ_ARENA_SMALL (72u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct FuzzSink {
    const uint8_t *frame; /* the input: names inside it are compared by offset too */
    size_t frame_n;
    size_t points;
    uint64_t sum;    /* touches every name byte */
    uint64_t digest; /* order-sensitive digest of every point */
} FuzzSink;

typedef struct FuzzRun {
    int rc;
    size_t skipped;
    TsError err;
    FuzzSink sink;
} FuzzRun;

static void check(int ok)
{
    if (!ok)
        abort();
}

static uint64_t mix(uint64_t h, uint64_t x)
{
    h ^= x + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdull;
}

static int on_point(void *ctx, Slice name, double ts_s, double value)
{
    FuzzSink *s = ctx;
    uint64_t h = mix(s->digest, name.n);
    for (size_t i = 0; i < name.n; i++) {
        s->sum += name.p[i];
        h = mix(h, name.p[i]);
    }
    if (name.p >= s->frame && name.p < s->frame + s->frame_n)
        h = mix(h, (uint64_t)(name.p - s->frame));
    h = mix(h, double_bits(ts_s));
    s->digest = mix(h, double_bits(value));
    s->points++;
    return TS_OK;
}

static void run(FuzzRun *r, bool general, const uint8_t *data, size_t size, const PickleLimits *lim,
                size_t cap)
{
    Arena arena;
    memset(r, 0, sizeof(*r));
    r->sink.frame = data;
    r->sink.frame_n = size;
    arena_init(&arena, cap);
    if (general)
        r->rc = pickle_decode_points_general(slice_make(data, size), lim, &arena, on_point,
                                             &r->sink, &r->skipped, &r->err);
    else
        r->rc = pickle_decode_points(slice_make(data, size), lim, &arena, on_point, &r->sink,
                                     &r->skipped, &r->err);
    arena_deinit(&arena);
}

static void same(const FuzzRun *a, const FuzzRun *b)
{
    check(a->rc == b->rc);
    check(a->skipped == b->skipped);
    check(a->sink.points == b->sink.points);
    check(a->sink.digest == b->sink.digest);
    if (a->rc != TS_OK) {
        check(a->err.pos == b->err.pos);
        check(strcmp(a->err.msg, b->err.msg) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    PickleLimits lim = {16, 4096, 1024};
    FuzzRun fast, general;

    run(&fast, false, data, size, &lim, FUZZ_ARENA_CAP);
    if (fast.rc == TS_OK) {
        check(fast.sink.points + fast.skipped <= lim.max_items);
    } else {
        check(fast.rc == TS_ERR_PROTO || fast.rc == TS_ERR_LIMIT);
        check(fast.sink.points == 0 && fast.skipped == 0);
        check(fast.err.pos <= size);
        check(fast.err.msg[0] != '\0');
    }
    run(&general, true, data, size, &lim, FUZZ_ARENA_CAP);
    same(&fast, &general);

    run(&fast, false, data, size, &lim, FUZZ_ARENA_SMALL);
    run(&general, true, data, size, &lim, FUZZ_ARENA_SMALL);
    same(&fast, &general);
    return 0;
}
