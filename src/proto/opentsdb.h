/*
 * OpenTSDB telnet-style protocol (TCP 4242): one line parser and the text of the replies.
 *
 * Wire format (OpenTSDB 2.x src/tsd: WordSplitter, RpcManager, PutDataPointRpc; Akumuli's
 * OpenTSDBProtocolParser, reference/akumuli.md §5 and §17):
 *
 *     put <metric> <timestamp> <value> <tagk1=tagv1>[ <tagkN=tagvN>]...\n
 *     version\n | stats\n | help\n | exit\n | dropcaches\n
 *
 *   - The caller frames lines at '\n' and passes each line without it; one trailing '\r' is
 *     stripped here, so CRLF clients work. An empty line (or one of spaces only) is skipped.
 *   - Words are separated by single spaces (0x20), as OpenTSDB's WordSplitter does: two
 *     spaces make an empty word. Empty tag words are skipped; an empty metric, timestamp or
 *     value is an error. The command word is case-sensitive; extra words after version,
 *     stats, help, exit and dropcaches are ignored.
 *   - Timestamp, always > 0, one of:
 *       integer  [+]digits: the unit is told apart by magnitude (digit count without leading
 *                zeros): t < 10^11 seconds (10 digits), 10^11 <= t < 10^14 milliseconds (13),
 *                10^14 <= t < 10^17 microseconds (16), t >= 10^17 nanoseconds (19). At most
 *                19 digits.
 *       decimal  digits.digits: the integer part picks the unit as above and the fraction is
 *                a fraction of that unit ("1483228800.5" is 1483228800.5 s, "1483228800500.25"
 *                is that many ms), truncated to whole nanoseconds.
 *       ISO      basic ISO 8601 "YYYYMMDDTHHMMSS[.fraction]" (UTC) when byte 8 is 'T'.
 *     Times that do not fit int64 nanoseconds (after 2262-04-11) are invalid.
 *   - Value: [+-]digits[.digits][e[+-]digits], .digits, inf, infinity or nan (any case, with a
 *     sign), at most OTSDB_NUM_MAX bytes; converted with strtod. No hex floats. A NaN value is
 *     returned as NaN and the caller drops it (DESIGN.md §1).
 *   - Tags: each word is exactly key=value with both sides non-empty (OpenTSDB's Tags.parse);
 *     a repeated tag with the same value is merged, with another value it is an error. At least
 *     one tag. Metric, keys and values may hold any bytes except control bytes (0x00-0x1F,
 *     0x7F) and '=' in keys and values; the metric and values may not end with '\'.
 *   - The series key is the canonical key of core/series_key.h: metric, then the tags sorted
 *     by key ("put cpu 1 2 host=a dc=x" -> "cpu dc=x host=a").
 *
 * Errors are answered with one line in OpenTSDB's words, and the connection stays open:
 *     put: illegal argument: <message>\n     (argument count, tags, timestamps <= 0, ...)
 *     put: invalid value: <message>\n        (numbers that do not parse)
 *     unknown command: <word>.  Try `help'.\n
 * The exact texts are listed in docs/protocols.md ("OpenTSDB telnet").
 *
 * Everything here is pure: bytes in, values out; no allocation except appending to a Buf.
 */
#ifndef CAIRN_PROTO_OPENTSDB_H
#define CAIRN_PROTO_OPENTSDB_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/slice.h"
#include "core/status.h"

/* Longest value or timestamp word accepted, in bytes. */
#define OTSDB_NUM_MAX 255

/* The reply to dropcaches, as OpenTSDB sends it (cairn has no caches to drop). */
#define OTSDB_REPLY_DROPCACHES "Caches dropped.\n"

typedef enum OtsdbCmd {
    OTSDB_PUT,        /* a data point: key, ts_ns and value are set on TS_OK */
    OTSDB_VERSION,    /* answer with otsdb_write_version */
    OTSDB_STATS,      /* answer with one otsdb_write_stat per counter */
    OTSDB_HELP,       /* answer with otsdb_write_help */
    OTSDB_EXIT,       /* close the connection, no reply (OpenTSDB disconnects) */
    OTSDB_DROPCACHES, /* answer OTSDB_REPLY_DROPCACHES */
    OTSDB_IGNORED,    /* rollup, histogram (OpenTSDB 2.4 writes cairn does not store): rc is
                         TS_ERR_PROTO and 'reply' holds the error line; nothing is stored */
    OTSDB_EMPTY,      /* empty line: no reply */
    OTSDB_UNKNOWN     /* any other command word: rc TS_ERR_PROTO, reply "unknown command: ..." */
} OtsdbCmd;

/* Which OpenTSDB error counter a rejected line belongs to (tsd.rpc.errors type=...). */
typedef enum OtsdbErr {
    OTSDB_ERR_NONE,             /* the line was accepted */
    OTSDB_ERR_ILLEGAL_ARGUMENT, /* "put: illegal argument: ..." and rollup/histogram */
    OTSDB_ERR_INVALID_VALUE,    /* "put: invalid value: ..." */
    OTSDB_ERR_UNKNOWN_COMMAND   /* "unknown command: ..." */
} OtsdbErr;

typedef struct OtsdbLine {
    OtsdbCmd cmd;  /* what the line is, also when it was rejected */
    OtsdbErr err;  /* OTSDB_ERR_NONE on TS_OK */
    int64_t ts_ns; /* put: ns since the epoch, > 0 */
    double value;  /* put: the value; may be NaN or +-inf */
    Slice metric;  /* accepted put: the metric word, into the line */
    Slice tags;    /* accepted put: the rest of the line after the value's space, as sent
                      (without the stripped '\r'), into the line */
} OtsdbLine;

/*
 * Parse one line (without its '\n'; one trailing '\r' is stripped).
 *
 * Returns TS_OK with out->cmd set; for OTSDB_PUT the canonical series key is appended to 'key'
 * and out->ts_ns, out->value are set. For every other command nothing is appended anywhere:
 * the caller answers with the otsdb_write_* helpers.
 * Returns TS_ERR_PROTO (bad put, rollup/histogram, unknown command) or TS_ERR_LIMIT (more than
 * max_tags tags, or a key longer than max_name_bytes) with out->cmd and out->err set and
 * exactly one newline-terminated reply line appended to 'reply'; nothing is appended to 'key'.
 * The caller sends the reply, counts the error and keeps reading, as OpenTSDB does.
 * All inputs are borrowed; 'line' need not be NUL-terminated.
 */
int otsdb_parse_line(Slice line, size_t max_tags, size_t max_name_bytes, OtsdbLine *out, Buf *key,
                     Buf *reply);

/*
 * The fast path for callers that cache names: split a put line without looking at its tags.
 *
 * Returns TS_OK when 'line' (one trailing '\r' stripped) is "put <metric> <ts> <value> <tags>"
 * with a non-empty metric and tags part and a timestamp and value that otsdb_parse_line
 * accepts; out->cmd is OTSDB_PUT and out->ts_ns, out->value, out->metric, out->tags are set as
 * otsdb_parse_line sets them. The tags are NOT checked: when an earlier line with the same
 * metric and tags bytes was accepted by otsdb_parse_line (with the same limits), this line is
 * accepted too, with the same key, so the caller may reuse what it derived from that one.
 * Otherwise (TS_ERR_PROTO) the caller must parse the line with otsdb_parse_line, which gives
 * the reply. 'scratch' may be appended to and is cut back to its length on return.
 */
int otsdb_split_put(Slice line, OtsdbLine *out, Buf *scratch);

/*
 * Append the reply to `version` in OpenTSDB's two-line shape:
 *     net.opentsdb.tools BuildData built at revision <cairn_version> (MINT)\n
 *     Built by cairn <cairn_version>, an OpenTSDB telnet compatible server\n
 */
void otsdb_write_version(Buf *out, const char *cairn_version);

/* Append the reply to `help`: "available commands: put stats dropcaches version exit help \n"
 * (OpenTSDB's text: each command followed by one space). */
void otsdb_write_help(Buf *out);

/*
 * Append one `stats` line in OpenTSDB's put format: "<metric> <unix_s> <value>[ <tags>]\n".
 * The value is written as an integer when it is integral and below 2^53 in magnitude, else in
 * the shortest %g form that reads back to the same double. 'tags' ("type=put host=a") may be
 * NULL or empty. All strings are borrowed.
 */
void otsdb_write_stat(Buf *out, const char *metric, int64_t unix_s, double value, const char *tags);

#endif
