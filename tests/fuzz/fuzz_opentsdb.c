/*
 * libFuzzer harness for the OpenTSDB telnet protocol: the input is split on '\n' like the TCP
 * receiver frames it and every line goes through otsdb_parse_line, with a small and a large
 * tag/name limit. An accepted put must yield a positive timestamp and a canonical key within
 * the limits that splits and rebuilds to the same bytes; a rejected line must yield exactly one
 * newline-terminated reply line and leave the key alone; other commands append nothing. Any
 * crash, sanitizer report or broken invariant is a bug.
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

static void check_line(Slice line, size_t max_tags, size_t max_bytes, Buf *key, Buf *again,
                       Buf *reply)
{
    OtsdbLine out;
    TsError err;
    SeriesTag tags[SERIES_KEY_TAGS_MAX];
    Slice metric;
    size_t ntags = 0;

    buf_clear(key);
    buf_clear(reply);
    int rc = otsdb_parse_line(line, max_tags, max_bytes, &out, key, reply);
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
    size_t start = 0;

    buf_init(&key);
    buf_init(&again);
    buf_init(&reply);
    while (start <= size) {
        const uint8_t *nl = size > start ? memchr(data + start, '\n', size - start) : NULL;
        size_t end = nl ? (size_t)(nl - data) : size;
        Slice line = slice_make(data + start, end - start);
        check_line(line, 3, 64, &key, &again, &reply);
        check_line(line, 1000, 1 << 20, &key, &again, &reply);
        start = end + 1;
    }
    buf_deinit(&key);
    buf_deinit(&again);
    buf_deinit(&reply);
    return 0;
}
