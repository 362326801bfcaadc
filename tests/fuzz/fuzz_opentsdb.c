/*
 * libFuzzer harness for the OpenTSDB telnet protocol: the input is split on '\n' like the TCP
 * receiver frames it and every line goes through otsdb_parse_line, with a small and a large
 * tag/name limit. An accepted put must yield a positive timestamp and a canonical key within
 * the limits that splits and rebuilds to the same bytes; a rejected line must yield exactly one
 * newline-terminated reply line and leave the key alone; other commands append nothing. The
 * fast split (otsdb_split_put) never writes its scratch and finds the same fields as every
 * accepted put; and a line whose metric and tags equal those of a put accepted earlier in the
 * input is accepted by the split exactly when the full parser accepts it, with the same key
 * (what the listener's name cache relies on). Any crash, sanitizer report or broken invariant
 * is a bug.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/series_key.h"
#include "proto/opentsdb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok)
        abort();
}

#define SEEN_MAX 8

/* Names ("<metric>\0<tags>") of puts accepted so far with one set of limits, and their keys. */
typedef struct Seen {
    Buf names[SEEN_MAX];
    Buf keys[SEEN_MAX];
    size_t n;
} Seen;

static void name_of(const OtsdbLine *l, Buf *out)
{
    buf_clear(out);
    buf_append(out, l->metric.p, l->metric.n);
    buf_put_u8(out, 0);
    buf_append(out, l->tags.p, l->tags.n);
}

/* The index of 'name' in 'seen', or -1. */
static int seen_find(const Seen *seen, const Buf *name)
{
    for (size_t i = 0; i < seen->n; i++)
        if (seen->names[i].n == name->n && !memcmp(seen->names[i].p, name->p, name->n))
            return (int)i;
    return -1;
}

static void check_line(Slice line, size_t max_tags, size_t max_bytes, Buf *key, Buf *again,
                       Buf *reply, Seen *seen)
{
    OtsdbLine out;
    OtsdbLine fast;
    TsError err;
    SeriesTag tags[SERIES_KEY_TAGS_MAX];
    Slice metric;
    size_t ntags = 0;

    buf_clear(reply);
    int rc_fast = otsdb_split_put(line, &fast, reply);
    check(reply->n == 0);
    int known = -1;
    if (rc_fast == TS_OK) {
        check(fast.cmd == OTSDB_PUT && fast.ts_ns > 0 && fast.metric.n > 0 && fast.tags.n > 0);
        name_of(&fast, again);
        known = seen_find(seen, again);
    }

    buf_clear(key);
    buf_clear(reply);
    int rc = otsdb_parse_line(line, max_tags, max_bytes, &out, key, reply);
    if (known >= 0) {
        /* A cached name: the split alone decides, and the key is the cached one. */
        check(rc == TS_OK && out.cmd == OTSDB_PUT);
        check(key->n == seen->keys[known].n && !memcmp(key->p, seen->keys[known].p, key->n));
    }
    if (rc == TS_OK && out.cmd == OTSDB_PUT) {
        check(rc_fast == TS_OK && fast.ts_ns == out.ts_ns &&
              !memcmp(&fast.value, &out.value, sizeof(double)));
        check(fast.metric.p == out.metric.p && fast.metric.n == out.metric.n);
        check(fast.tags.p == out.tags.p && fast.tags.n == out.tags.n);
        name_of(&out, again);
        if (seen_find(seen, again) < 0) {
            size_t i = seen->n < SEEN_MAX ? seen->n++ : (size_t)(out.ts_ns % SEEN_MAX);
            buf_clear(&seen->names[i]);
            buf_append(&seen->names[i], again->p, again->n);
            buf_clear(&seen->keys[i]);
            buf_append(&seen->keys[i], key->p, key->n);
        }
    }
    if (rc != TS_OK) {
        check(rc == TS_ERR_PROTO || rc == TS_ERR_LIMIT);
        check(out.err != OTSDB_ERR_NONE);
        check(key->n == 0);
        check(reply->n > 0 && reply->p[reply->n - 1] == '\n');
        check(memchr(reply->p, '\n', reply->n) == reply->p + reply->n - 1);
        return;
    }
    check(out.err == OTSDB_ERR_NONE);
    check(reply->n == 0);
    if (out.cmd != OTSDB_PUT) {
        check(key->n == 0);
        check(out.cmd == OTSDB_VERSION || out.cmd == OTSDB_STATS || out.cmd == OTSDB_HELP ||
              out.cmd == OTSDB_EXIT || out.cmd == OTSDB_DROPCACHES || out.cmd == OTSDB_EMPTY);
        return;
    }
    check(out.ts_ns > 0);
    check(key->n > 0 && key->n <= max_bytes);
    Slice k = slice_make(key->p, key->n);
    check(series_key_split(k, &metric, tags, SERIES_KEY_TAGS_MAX, &ntags, &err) == TS_OK);
    check(ntags >= 1 && ntags <= max_tags);
    buf_clear(again);
    check(series_key_build(metric, tags, ntags, max_tags, max_bytes, again, &err) == TS_OK);
    check(again->n == key->n && memcmp(again->p, key->p, key->n) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Buf key;
    Buf again;
    Buf reply;
    Seen seen[2];
    size_t start = 0;

    buf_init(&key);
    buf_init(&again);
    buf_init(&reply);
    memset(seen, 0, sizeof(seen));
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < SEEN_MAX; i++) {
            buf_init(&seen[k].names[i]);
            buf_init(&seen[k].keys[i]);
        }
    }
    while (start <= size) {
        const uint8_t *nl = size > start ? memchr(data + start, '\n', size - start) : NULL;
        size_t end = nl ? (size_t)(nl - data) : size;
        Slice line = slice_make(data + start, end - start);
        check_line(line, 3, 64, &key, &again, &reply, &seen[0]);
        check_line(line, 1000, 1 << 20, &key, &again, &reply, &seen[1]);
        start = end + 1;
    }
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < SEEN_MAX; i++) {
            buf_deinit(&seen[k].names[i]);
            buf_deinit(&seen[k].keys[i]);
        }
    }
    buf_deinit(&key);
    buf_deinit(&again);
    buf_deinit(&reply);
    return 0;
}
