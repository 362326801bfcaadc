/*
 * Graphite plaintext protocol (TCP/UDP 2003): one line parser and the Graphite name -> series
 * key mapping, shared with the pickle receiver.
 *
 * Wire format (carbon lib/carbon/protocols.py MetricLineReceiver; graphite.md §2):
 *
 *     <metric> <value> <timestamp>\n
 *
 *   - The caller frames lines at '\n' and passes each line without it. Fields are separated by
 *     runs of ASCII whitespace (space, \t, \r, \v, \f, \n); leading and trailing whitespace
 *     (a CRLF's '\r' included) is ignored. Exactly three fields.
 *   - value and timestamp use Python float() syntax, minus '_' digit separators and non-ASCII
 *     digits: [+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?, or [+-]? inf,
 *     infinity or nan in any case. No hex floats, no nan(...) payloads, no spaces inside, at
 *     most GRAPHITE_NUM_MAX bytes.
 *   - Timestamps are seconds, truncated toward zero; a truncated -1 means "now".
 *
 * Everything here is pure: bytes in, values out; no allocation except appending to a Buf.
 */
#ifndef CAIRN_PROTO_GRAPHITE_LINE_H
#define CAIRN_PROTO_GRAPHITE_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/series_key.h"
#include "core/slice.h"
#include "core/status.h"

/* Longest value or timestamp field accepted, in bytes. */
#define GRAPHITE_NUM_MAX 255 /* = PYFLOAT_MAX (core/pyfloat.h) */

typedef struct GraphiteLine {
    Slice name;    /* the metric field as sent; borrowed from the line */
    double value;  /* the value; NaN when is_nan */
    int64_t ts_ns; /* ns since the epoch, whole seconds; 0 when is_nan and the ts is unusable */
    bool is_nan;   /* value was nan: carbon drops such points silently, so should the caller */
} GraphiteLine;

/*
 * Parse one plaintext line (without its '\n') as carbon does.
 *
 * Returns TS_OK and fills 'out'; when the value is NaN (any case, any sign) out->is_nan is true
 * and the caller drops the point without counting an error (carbon filters NaN before it looks
 * at the timestamp, so an infinite timestamp with a NaN value is not an error either). 'now_ns'
 * is used for a timestamp whose integer part is -1 and is truncated to whole seconds.
 * Returns TS_ERR_PROTO with a short reason and err->pos (byte offset in 'line') for an empty
 * line, a field count other than 3, an unparsable value or timestamp (including rrdtool's 'N'),
 * a non-finite timestamp, or one whose nanoseconds do not fit int64. out->name borrows 'line'.
 */
int graphite_line_parse(Slice line, int64_t now_ns, GraphiteLine *out, TsError *err);

/*
 * Split 'line' at runs of whitespace (space, tab, CR, LF, VT, FF), as carbon's str.split() does.
 * The first 'max' fields go to tok[] with their byte offsets in pos[]; *extra_pos receives the
 * offset of field max + 1 (if any). Returns the number of fields in the line. Borrowed slices.
 */
size_t graphite_split_fields(Slice line, Slice *tok, size_t *pos, size_t max, size_t *extra_pos);

/* True for the bytes graphite_split_fields splits at. */
bool graphite_is_ws(uint8_t c);

/*
 * Map a Graphite metric path to a canonical series key (series_key.h) appended to 'out'.
 *
 * Untagged paths (no ';' and not OpenMetrics form) are the key as given. Tagged paths
 * `cpu;host=a;dc=x` and OpenMetrics paths `cpu{host="a",dc="x"}` are validated with carbon's
 * TaggedSeries rules and error texts: the later of two equal keys wins, a `name` tag is replaced
 * by the metric, leading '~' are stripped from the metric, and the key is the metric plus the
 * remaining tags sorted by key (`cpu dc=x host=a`). Whitespace and NUL are rejected anywhere.
 * Returns TS_OK; TS_ERR_PROTO with Graphite's message in err->msg; TS_ERR_LIMIT for more than
 * max_tags distinct tags or a key longer than max_bytes. On error nothing is appended.
 */
int graphite_name_to_key(Slice name, size_t max_tags, size_t max_bytes, Buf *out, TsError *err);

#endif
