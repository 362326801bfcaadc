/*
 * libFuzzer harness for the Graphite plaintext protocol: the input is split on '\n' like the
 * TCP receiver frames it, every line goes through graphite_line_parse, every name (or, for a
 * rejected line, its first field) through graphite_name_to_key, and every key produced is split,
 * rebuilt (which must give the same bytes) and shown as a Graphite path. Any crash, sanitizer
 * report or broken invariant is a bug.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/series_key.h"
#include "proto/graphite_line.h"

#define FUZZ_MAX_TAGS 32
#define FUZZ_MAX_BYTES 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok)
        abort();
}

static void check_name(Slice name, Buf *key, Buf *again, Buf *shown)
{
    Slice metric;
    SeriesTag tags[FUZZ_MAX_TAGS];
    size_t ntags = 0;
    TsError err;

    buf_clear(key);
    if (graphite_name_to_key(name, FUZZ_MAX_TAGS, FUZZ_MAX_BYTES, key, &err) != TS_OK) {
        check(key->n == 0);
        return;
    }
    check(key->n > 0 && key->n <= FUZZ_MAX_BYTES);
    Slice k = slice_make(key->p, key->n);
    check(series_key_split(k, &metric, tags, FUZZ_MAX_TAGS, &ntags, &err) == TS_OK);
    buf_clear(again);
    check(series_key_build(metric, tags, ntags, FUZZ_MAX_TAGS, FUZZ_MAX_BYTES, again, &err) ==
          TS_OK);
    check(again->n == key->n && memcmp(again->p, key->p, key->n) == 0);
    buf_clear(shown);
    series_key_to_graphite(k, shown);
    check(shown->n == key->n); /* no escapes in Graphite keys: ' ' <-> ';' one for one */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Buf key;
    Buf again;
    Buf shown;
    size_t start = 0;

    buf_init(&key);
    buf_init(&again);
    buf_init(&shown);
    while (start <= size) {
        const uint8_t *nl = size > start ? memchr(data + start, '\n', size - start) : NULL;
        size_t end = nl ? (size_t)(nl - data) : size;
        Slice line = slice_make(data + start, end - start);
        GraphiteLine g;
        TsError err;

        if (graphite_line_parse(line, 1700000000123456789LL, &g, &err) == TS_OK) {
            check(g.name.n > 0);
            check(g.is_nan == (bool)isnan(g.value));
            check(g.ts_ns % 1000000000LL == 0);
            check_name(g.name, &key, &again, &shown);
        } else {
            check(err.pos <= line.n);
            size_t n = 0;
            while (n < line.n && line.p[n] != ' ' && line.p[n] != '\t')
                n++;
            check_name(slice_make(line.p, n), &key, &again, &shown);
        }
        start = end + 1;
    }
    buf_deinit(&key);
    buf_deinit(&again);
    buf_deinit(&shown);
    return 0;
}
