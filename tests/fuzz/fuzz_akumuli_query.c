/*
 * libFuzzer harness: arbitrary bytes as the body of POST /api/query (akumuli_query_run) against
 * a small in-memory QuerySource. Checks that every answer is a complete body with status 200 or
 * 400, that an error answer ends in one "-...\r\n" line, and (through ASan/UBSan/LSan) that
 * nothing crashes, overflows or leaks.
 *
 * The fake has four series of the metric "m" (one of them without a key, to reach the "id=<n>"
 * path), one of "n" and one event series "!e" (texts "event <i>"), 40 points or events each at 1 s from 20170714T024000 (also reachable with integer
 * ranges near 1500000000000000000), and a read cap of 100 points per query so TS_ERR_LIMIT is
 * exercised too.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "query/akumuli.h"

#define NSERIES 6
#define NPOINTS 40
#define T0 INT64_C(1500000000000000000)
#define SEC INT64_C(1000000000)

static const char *const keys[NSERIES] = {"m host=a k=1", "m host=b k=2", "m host=c", NULL,
                                          "n host=a", "!e host=a"};
static size_t read_points;

static int has_tag(const char *key, const QueryTagFilter *f)
{
    const char *p = strchr(key, ' ');
    while (p) {
        p++;
        const char *end = strchr(p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (eq && (size_t)(eq - p) == f->key.n && memcmp(p, f->key.p, f->key.n) == 0) {
            Slice v = slice_make(eq + 1, len - (size_t)(eq - p) - 1);
            if (f->n_values == 0)
                return 1;
            for (size_t i = 0; i < f->n_values; i++)
                if (slice_eq(v, f->values[i]))
                    return 1;
        }
        p = end;
    }
    return 0;
}

static int fake_find(void *ctx, Slice metric, const QueryTagFilter *f, size_t nf, uint64_t **ids,
                     size_t *n)
{
    *ids = ts_malloc(NSERIES * sizeof **ids);
    *n = 0;
    for (size_t i = 0; i < NSERIES; i++) {
        const char *k = keys[i] ? keys[i] : "m host=d";
        if (metric.n && !slice_eq(metric, slice_make(k, strcspn(k, " "))))
            continue;
        size_t j = 0;
        while (j < nf && has_tag(k, &f[j]))
            j++;
        if (j == nf)
            (*ids)[(*n)++] = 100 + i;
    }
    return TS_OK;
}

static int fake_key(void *ctx, uint64_t id, Slice *key)
{
    if (id < 100 || id >= 100 + NSERIES || !keys[id - 100])
        return TS_ERR_NOTFOUND;
    *key = slice_cstr(keys[id - 100]);
    return TS_OK;
}

static int fake_read(void *ctx, uint64_t id, int64_t from_ns, int64_t to_ns, PointVec *out)
{
    if (from_ns > to_ns)
        abort(); /* the front end must never ask for an inverted window */
    for (int i = 0; i < NPOINTS; i++) {
        int64_t ts = T0 + i * SEC;
        if (ts < from_ns || ts >= to_ns)
            continue;
        if (++read_points > 100)
            return TS_ERR_LIMIT;
        point_vec_push(out, ts, (double)i * 0.5 - (double)(id % 3));
    }
    return TS_OK;
}

static int fake_read_events(void *ctx, uint64_t id, int64_t from_ns, int64_t to_ns,
                            EventVec *out)
{
    if (from_ns > to_ns)
        abort();
    for (int i = 0; i < NPOINTS; i++) {
        int64_t ts = T0 + i * SEC;
        if (ts < from_ns || ts >= to_ns)
            continue;
        if (++read_points > 100)
            return TS_ERR_LIMIT;
        char text[32];
        int n = snprintf(text, sizeof text, "event %d", i);
        event_vec_push(out, ts, slice_make(text, (size_t)n));
    }
    return TS_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    QuerySource src = {NULL, fake_find, fake_key, fake_read, fake_read_events};
    Buf out;
    int status = 0;
    read_points = 0;
    buf_init(&out);
    int rc = akumuli_query_run(&src, slice_make(data, size), &out, &status);
    if (status != 200 && status != 400)
        abort();
    if (rc != TS_OK) {
        /* An error answer ends with exactly one "-...\r\n" line. */
        if (out.n < 3 || out.p[out.n - 2] != '\r' || out.p[out.n - 1] != '\n')
            abort();
    }
    if (status == 400 && (rc == TS_OK || out.p[0] != '-'))
        abort();
    buf_deinit(&out);
    return 0;
}
