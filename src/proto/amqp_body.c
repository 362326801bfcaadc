/*
 * AMQP message bodies: line splitting and the "value [timestamp]" lines of carbon's
 * routing-key form (the metric name is the routing key). The "name value timestamp" form is a
 * plaintext line and goes through graphite_line_parse; this file only adds what that parser
 * does not cover. The format is described in amqp_body.h. Pure: no sockets, no logging, no
 * globals; src/amqp/ counts and logs.
 *
 * The number rules are the plaintext protocol's (core/pyfloat.c, Python float() grammar), so a
 * value accepted on port 2003 is accepted here with the same double.
 */
#include "proto/amqp_body.h"
#include "core/pyfloat.h"
#include "proto/graphite_line.h"

#include <math.h>
#include <string.h>

/* |seconds| above this would overflow int64 nanoseconds (INT64_MAX / 1e9 = 9223372036.85). */
#define AMQP_TS_SEC_MAX 9223372036.0

#define NS_PER_SEC 1000000000LL

bool amqp_body_next_line(Slice body, size_t *pos, Slice *line)
{
    size_t at = *pos;
    while (at < body.n) {
        const uint8_t *nl = memchr(body.p + at, '\n', body.n - at);
        size_t end = nl ? (size_t)(nl - body.p) : body.n;
        size_t next = nl ? end + 1 : body.n;
        for (size_t i = at; i < end; i++) {
            if (!graphite_is_ws(body.p[i])) {
                *line = slice_make(body.p + at, end - at);
                *pos = next;
                return true;
            }
        }
        at = next;
    }
    *pos = body.n;
    return false;
}

int amqp_body_parse_value_line(Slice line, int64_t now_ns, AmqpValueLine *out, TsError *err)
{
    Slice tok[2];
    size_t tok_pos[2];
    size_t extra_pos;
    size_t ntok = graphite_split_fields(line, tok, tok_pos, 2, &extra_pos);
    if (ntok == 0)
        return ts_error(err, TS_ERR_PROTO, 0, "empty line");
    if (ntok > 2)
        return ts_error(err, TS_ERR_PROTO, extra_pos,
                        "expected 'value timestamp' or 'value', got %zu fields", ntok);

    double value = 0.0;
    if (!pyfloat_parse(tok[0], &value))
        return ts_error(err, TS_ERR_PROTO, tok_pos[0], "invalid value");
    double ts = -1.0; /* a lone value means now */
    if (ntok == 2 && !pyfloat_parse(tok[1], &ts)) {
        if (tok[1].n == 1 && tok[1].p[0] == 'N')
            return ts_error(err, TS_ERR_PROTO, tok_pos[1],
                            "invalid timestamp: 'N' (now) is not supported, use -1");
        return ts_error(err, TS_ERR_PROTO, tok_pos[1], "invalid timestamp");
    }

    out->value = value;
    out->ts_ns = 0;
    out->is_nan = isnan(value);
    bool ts_ok = isfinite(ts) && trunc(ts) <= AMQP_TS_SEC_MAX && trunc(ts) >= -AMQP_TS_SEC_MAX;
    if (!ts_ok) {
        if (out->is_nan)
            return TS_OK; /* carbon drops NaN values before it looks at the timestamp */
        if (!isfinite(ts))
            return ts_error(err, TS_ERR_PROTO, tok_pos[1], "timestamp is not finite");
        return ts_error(err, TS_ERR_PROTO, tok_pos[1], "timestamp out of range");
    }
    int64_t sec = (int64_t)trunc(ts);
    if (sec == -1)
        out->ts_ns = now_ns - now_ns % NS_PER_SEC;
    else
        out->ts_ns = sec * NS_PER_SEC;
    return TS_OK;
}
