/*
 * Akumuli JSON query front end: the body of `POST /api/query` in, the response body out.
 *
 * Implements the `select` query kind and the legacy `meta:names` listing of Akumuli 0.8.80
 * (reference/akumuli.md §6-§12, §17) against the abstract QuerySource, so the same code runs on
 * the real store and on an in-memory fake in tests. What is supported, what is not yet, and
 * every deliberate deviation from Akumuli is listed in docs/query-akumuli.md.
 *
 * Response body forms (byte-exact with Akumuli):
 *   RESP rows   "+<series>\r\n+<timestamp>\r\n+<%.17g value>\r\n"
 *   CSV rows    "<series>,<timestamp>,<%.17g value>\n"
 *   names       "+<series>\r\n" (RESP) or "<series>\n" (CSV) for meta:names
 *   timestamp   "YYYYMMDDTHHMMSS.nnnnnnnnn" (default) or "ts=<ns>" with "timestamp": "raw"
 *   error       one line "-<message>\r\n", alone or after the rows already produced
 */
#ifndef CAIRN_QUERY_AKUMULI_H
#define CAIRN_QUERY_AKUMULI_H

#include "core/buf.h"
#include "core/slice.h"
#include "query/source.h"

/*
 * Run one Akumuli query.
 *
 * 'body' is the raw request body, whatever its content type; it is borrowed and never written.
 * As Akumuli reads the body as a C string, bytes from the first NUL on are ignored. The complete
 * response body is appended to 'out' (RESP or CSV rows, names, or a single "-<message>\r\n"
 * error line) and *http_status receives 200, or 400 for an invalid `output` statement
 * (reference §6); query errors are answered with 200 as a compatible server must.
 *
 * Returns:
 *   TS_OK            the query ran; 'out' holds its rows (possibly none: an empty body);
 *   TS_ERR_PROTO     the request was invalid or asks for something cairn does not implement
 *                    yet; 'out' holds one error line;
 *   TS_ERR_NOTFOUND  no series matched; 'out' holds "-not found\r\n";
 *   another status   the source failed (TS_ERR_LIMIT when the query read more than
 *                    query.max_points points); 'out' holds the rows produced before the failure
 *                    followed by one error line.
 * In every case 'out' is a complete response body. 'src' is borrowed; the only memory kept
 * between calls is what was appended to 'out'.
 */
int akumuli_query_run(const QuerySource *src, Slice body, Buf *out, int *http_status);

#endif
