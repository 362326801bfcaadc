/*
 * libFuzzer harness for AMQP message bodies (proto/amqp_body): the input is one body; every
 * line amqp_body_next_line yields goes through both line parsers (the routing-key form
 * amqp_body_parse_value_line and the name-in-body form graphite_line_parse). Checks the
 * splitter's invariants (progress, lines inside the body, never blank) and the parsers'
 * (error offsets inside the line, whole-second timestamps, NaN flag). Any crash, sanitizer
 * report or broken invariant is a bug.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "proto/amqp_body.h"
#include "proto/graphite_line.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const int64_t now_ns = 1700000000123456789LL;
    Slice body = slice_make(data, size);
    size_t pos = 0;
    Slice line;
    while (amqp_body_next_line(body, &pos, &line)) {
        check(pos <= size);
        check(line.n > 0 && line.p >= data && line.p + line.n <= data + size);
        check(line.p + line.n == data + size || line.p[line.n] == '\n');
        AmqpValueLine v;
        TsError err;
        if (amqp_body_parse_value_line(line, now_ns, &v, &err) == TS_OK) {
            check(v.is_nan == (bool)isnan(v.value));
            check(v.ts_ns % 1000000000LL == 0);
        } else {
            check(err.pos <= line.n);
        }
        GraphiteLine g;
        if (graphite_line_parse(line, now_ns, &g, &err) == TS_OK)
            check(g.name.n > 0);
        else
            check(err.pos <= line.n);
    }
    check(pos == size);
    return 0;
}
