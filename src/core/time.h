/*
 * Clocks and timestamp text forms.
 *
 * Timestamps are int64 nanoseconds since the Unix epoch (UTC) everywhere in cairn. The text
 * forms here are Akumuli's: basic ISO 8601 "YYYYMMDDTHHMMSS.nnnnnnnnn" (reference/akumuli.md
 * §3.3 and §11). The parsing and formatting functions are pure.
 */
#ifndef CAIRN_CORE_TIME_H
#define CAIRN_CORE_TIME_H

#include <stddef.h>
#include <stdint.h>

#include "core/slice.h"
#include "core/status.h"

#define TS_NS_PER_SEC INT64_C(1000000000)
#define TS_NS_PER_MS INT64_C(1000000)

/* Wall-clock time in ns since the epoch. */
int64_t ts_now_ns(void);
/* Monotonic time in ns, for intervals and timeouts. */
int64_t ts_mono_ns(void);

/*
 * Parse a timestamp the way Akumuli's DateTimeUtil::from_iso_string does: leading non-digits
 * are skipped; if fewer than 15 characters remain or character 8 is not 'T', the rest must be a
 * decimal integer of nanoseconds; otherwise basic ISO "YYYYMMDDTHHMMSS" optionally followed by
 * '.' or ',' and up to 9 fraction digits (UTC; calendar values validated).
 * Returns TS_OK or TS_ERR_PROTO with err->msg "unknown timestamp format" (Akumuli's reason).
 */
int ts_parse_iso(Slice s, int64_t *out_ns, TsError *err);

/* Days since 1970-01-01 for a proleptic Gregorian date (month 1-12). */
int64_t ts_days_from_civil(int64_t y, unsigned m, unsigned d);

/*
 * Format 'ns' as "YYYYMMDDTHHMMSS.nnnnnnnnn" into out (at least 32 bytes); returns the length
 * (25 for years 0..9999). Negative timestamps are formatted as dates before 1970.
 */
size_t ts_format_iso(int64_t ns, char *out);

#endif
