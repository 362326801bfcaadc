/*
 * libFuzzer harness for the Akumuli RESP parser (proto/resp.c).
 *
 * Input: byte 0 picks the limits (defaults, or tiny ones that reach the tag and dictionary caps)
 * and byte 1 seeds the chunking; the rest is the stream. The stream is parsed once in a single
 * call and once in pseudo-random chunks the way a server feeds it (unconsumed bytes passed again
 * with the next chunk), the chunked run through a RespNames name-line cache (small, so it also
 * starts over), then once more in one call through the same, now warm, cache. Checked: no crash,
 * leak or sanitizer report; consumed never exceeds the input; every run delivers the same points
 * and ends with the same status; the chunked reply is the one-shot reply cut short (its context
 * may only lack bytes not yet received) and the warm run's reply is the one-shot reply; every
 * key is canonical (splits and rebuilds to the same bytes), event keys start with '!', and a
 * ref slot only ever holds what the callback stored for that same key.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/hash.h"
#include "core/series_key.h"
#include "proto/resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok)
        abort();
}

typedef struct Log {
    Buf points; /* every point as bytes, to compare the two runs */
    Buf again;  /* scratch for the rebuilt key */
} Log;

static int on_point(void *ctx, Slice key, uint64_t *ref, int64_t ts_ns, double value, bool is_event,
                    Slice text)
{
    Log *l = ctx;
    Slice metric;
    uint64_t mine = hash64(key.p, key.n) | 1;

    check(ref != NULL && (*ref == 0 || *ref == mine));
    *ref = mine;
    SeriesTag tags[RESP_AKUMULI_TAGS];
    size_t ntags = 0;

    check(key.n > 0);
    check(series_key_split(key, &metric, tags, RESP_AKUMULI_TAGS, &ntags, NULL) == TS_OK);
    check(ntags >= 1);
    check(is_event == (metric.p[0] == '!'));
    check(is_event || text.n == 0);
    buf_clear(&l->again);
    check(series_key_build(metric, tags, ntags, RESP_AKUMULI_TAGS, 1 << 16, &l->again, NULL) ==
          TS_OK);
    check(l->again.n == key.n && memcmp(l->again.p, key.p, key.n) == 0);

    buf_put_u32le(&l->points, (uint32_t)key.n);
    buf_append(&l->points, key.p, key.n);
    buf_put_u64le(&l->points, (uint64_t)ts_ns);
    buf_append(&l->points, &value, sizeof(value));
    buf_put_u8(&l->points, is_event);
    buf_put_u32le(&l->points, (uint32_t)text.n);
    buf_append(&l->points, text.p, text.n);
    return TS_OK;
}

/* Parse 'in' with chunk sizes from a small PRNG seeded by 'seed' (0: one call). */
static int run(const RespLimits *lim, const uint8_t *in, size_t n, unsigned seed, Log *log,
               Buf *reply, RespNames *names)
{
    RespParser *p = resp_parser_new(lim);
    resp_parser_set_names(p, names);
    Buf pending;
    size_t from = 0;
    uint32_t x = seed * 2654435761u + 1;
    int rc = TS_OK;

    buf_init(&pending);
    while (rc == TS_OK && from < n) {
        size_t chunk = n - from;
        if (seed != 0) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            chunk = 1 + x % (seed & 2 ? 3u : 97u);
            if (chunk > n - from)
                chunk = n - from;
        }
        buf_append(&pending, in + from, chunk);
        from += chunk;
        size_t used = 0;
        rc = resp_parse(p, pending.p, pending.n, on_point, log, &used, reply);
        check(used <= pending.n);
        if (used > 0) {
            memmove(pending.p, pending.p + used, pending.n - used);
            pending.n -= used;
        }
    }
    if (rc != TS_OK) {
        /* Dead parsers stay dead and silent. */
        size_t before = reply->n;
        size_t used = 1;
        check(resp_parse(p, in, n, on_point, log, &used, reply) == rc);
        check(used == 0 && reply->n == before);
    }
    buf_deinit(&pending);
    resp_parser_free(p);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    RespLimits tiny = {
        .max_name_bytes = 64, .max_tags = 4, .max_dict_entries = 3, .max_dict_bytes = 256};
    const RespLimits *lim = (data[0] & 1) ? &tiny : NULL;
    unsigned seed = data[1] | 1u;
    const uint8_t *in = data + 2;
    size_t n = size - 2;

    Log a;
    Log b;
    Log c;
    Buf ra;
    Buf rb;
    Buf rc;
    buf_init(&a.points);
    buf_init(&a.again);
    buf_init(&b.points);
    buf_init(&b.again);
    buf_init(&c.points);
    buf_init(&c.again);
    buf_init(&ra);
    buf_init(&rb);
    buf_init(&rc);
    RespNames *names = resp_names_new(lim, 2048);

    int rc_a = run(lim, in, n, 0, &a, &ra, NULL);
    int rc_b = run(lim, in, n, seed, &b, &rb, names);
    int rc_c = run(lim, in, n, 0, &c, &rc, names);
    check(rc_a == rc_b && rc_a == rc_c);
    check(a.points.n == b.points.n &&
          (a.points.n == 0 || !memcmp(a.points.p, b.points.p, a.points.n)));
    check(a.points.n == c.points.n &&
          (a.points.n == 0 || !memcmp(a.points.p, c.points.p, a.points.n)));
    check(ra.n == rc.n && (ra.n == 0 || !memcmp(ra.p, rc.p, ra.n)));
    check((rc_a == TS_OK) == (ra.n == 0));
    /* Same error line, the chunked context possibly shorter: compare without the final CRLF. */
    if (rc_a != TS_OK)
        check(rb.n >= 2 && rb.n <= ra.n && memcmp(ra.p, rb.p, rb.n - 2) == 0);
    /* bounded: the reply is at most the rendered input plus the message */
    check(ra.n <= 2 * n + 128);

    buf_deinit(&a.points);
    buf_deinit(&a.again);
    buf_deinit(&b.points);
    buf_deinit(&b.again);
    buf_deinit(&c.points);
    buf_deinit(&c.again);
    buf_deinit(&ra);
    buf_deinit(&rb);
    buf_deinit(&rc);
    resp_names_free(names);
    return 0;
}
