/*
 * Bodies of AMQP messages carrying Graphite metrics (carbon lib/carbon/amqp_listener.py;
 * reference/graphite.md §5.1).
 *
 * Wire format: the message body is text split into lines at '\n'. Lines that are empty or only
 * whitespace are skipped; leading and trailing whitespace (a CRLF's '\r' included) is ignored.
 * Each remaining line is, depending on amqp.metric_name_in_body:
 *
 *   true:   <metric> <value> <timestamp>      parsed by graphite_line_parse (graphite_line.h)
 *   false:  <value> <timestamp>               the metric is the message's routing key
 *           <value>                           the same, timestamped with the receive time
 *
 *   - Fields are separated by runs of ASCII whitespace; value and timestamp follow Python
 *     float() syntax exactly as in the plaintext protocol (no hex, no '_', at most
 *     GRAPHITE_NUM_MAX bytes each).
 *   - Timestamps are seconds, truncated toward zero; a truncated -1 means "now" (as on the
 *     plaintext port; carbon's AMQP path lacks this rule); "now" is the receive time truncated
 *     to whole seconds.
 *   - A NaN value (any case, any sign) drops the point silently, as carbon does.
 *
 * Pure: bytes in, values out; no allocation, no logging.
 */
#ifndef CAIRN_PROTO_AMQP_BODY_H
#define CAIRN_PROTO_AMQP_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/slice.h"
#include "core/status.h"

/* One "value [timestamp]" line. */
typedef struct AmqpValueLine {
    double value;  /* NaN when is_nan */
    int64_t ts_ns; /* ns since the epoch, whole seconds; 0 when is_nan and the ts is unusable */
    bool is_nan;   /* value was nan: drop the point without counting an error */
} AmqpValueLine;

/*
 * The next line of 'body' holding something other than whitespace, starting at byte *pos.
 * Returns true with *line set (borrowed from 'body', without its '\n', otherwise untrimmed) and
 * *pos moved past it; false when the rest of the body is blank (*pos is then body.n).
 * Start with *pos = 0. A last line without '\n' counts.
 */
bool amqp_body_next_line(Slice body, size_t *pos, Slice *line);

/*
 * Parse one routing-key-form line: "value timestamp" or "value" (timestamp = now).
 * 'now_ns' is the receive time; it is truncated to whole seconds where used.
 * Returns TS_OK and fills 'out'; TS_ERR_PROTO with a short reason and err->pos (byte offset in
 * 'line') for an empty line, more than two fields, an unparsable value or timestamp (rrdtool's
 * 'N' included), a non-finite timestamp, or one whose nanoseconds do not fit int64 (a NaN value
 * wins over a bad-but-parsable timestamp: TS_OK with is_nan, as in graphite_line_parse).
 */
int amqp_body_parse_value_line(Slice line, int64_t now_ns, AmqpValueLine *out, TsError *err);

#endif
