/*
 * Unit tests for proto/opentsdb: the telnet line parser (every put form, timestamp units told
 * apart by magnitude, fractional and ISO timestamps, values, series-name canonicalisation),
 * every error reply byte for byte, every command, the limits, and the reply writers; and the
 * fast split for cached names (otsdb_split_put): it agrees with the full parser on every
 * accepted put, and on a name accepted before it accepts exactly what the full parser accepts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/buf.h"
#include "proto/opentsdb.h"

#define SEC 1000000000LL
#define MAX_TAGS 32
#define MAX_NAME 4096

static char keybuf[8192];

/* Parse a line that must be an accepted put; returns its key as a C string (static buffer). */
static const char *put_ok_lim(const char *line, size_t max_tags, size_t max_name, int64_t *ts,
                              double *value)
{
    Buf key;
    Buf reply;
    OtsdbLine out;
    buf_init(&key);
    buf_init(&reply);
    memset(&out, 0xa5, sizeof(out));
    int rc = otsdb_parse_line(slice_cstr(line), max_tags, max_name, &out, &key, &reply);
    if (rc != TS_OK)
        fail_msg("line [%s] rejected: %.*s", line, (int)reply.n, (const char *)reply.p);
    assert_int_equal(out.cmd, OTSDB_PUT);
    assert_int_equal(out.err, OTSDB_ERR_NONE);
    assert_int_equal(reply.n, 0);
    assert_true(key.n < sizeof keybuf);
    memcpy(keybuf, key.p, key.n);
    keybuf[key.n] = '\0';
    if (ts)
        *ts = out.ts_ns;
    if (value)
        *value = out.value;
    /* The name parts point into the line; the fast split finds the same fields. */
    const char *stripped_end = line + strlen(line);
    if (stripped_end > line && stripped_end[-1] == '\r')
        stripped_end--;
    assert_true(out.metric.n > 0 && (const char *)out.metric.p > line);
    assert_true(out.tags.n > 0 && (const char *)out.tags.p + out.tags.n == stripped_end);
    OtsdbLine fast;
    memset(&fast, 0x5a, sizeof(fast));
    assert_int_equal(otsdb_split_put(slice_cstr(line), &fast, &reply), TS_OK);
    assert_int_equal(reply.n, 0);
    assert_int_equal(fast.cmd, OTSDB_PUT);
    assert_int_equal(fast.err, OTSDB_ERR_NONE);
    assert_int_equal(fast.ts_ns, out.ts_ns);
    assert_memory_equal(&fast.value, &out.value, sizeof(double));
    assert_true(fast.metric.p == out.metric.p && fast.metric.n == out.metric.n);
    assert_true(fast.tags.p == out.tags.p && fast.tags.n == out.tags.n);
    buf_deinit(&key);
    buf_deinit(&reply);
    return keybuf;
}

static const char *put_ok(const char *line, int64_t *ts, double *value)
{
    return put_ok_lim(line, MAX_TAGS, MAX_NAME, ts, value);
}

/* The timestamp of an accepted "put m <ts> 1 host=a". */
static int64_t ts_of(const char *ts_word)
{
    char line[512];
    int64_t ts = 0;
    snprintf(line, sizeof line, "put m %s 1 host=a", ts_word);
    assert_string_equal(put_ok(line, &ts, NULL), "m host=a");
    return ts;
}

static double value_of(const char *value_word)
{
    char line[512];
    double v = 0;
    snprintf(line, sizeof line, "put m 1483228800 %s host=a", value_word);
    put_ok(line, NULL, &v);
    return v;
}

/* A rejected line: checks rc, cmd, error kind and the reply byte for byte. */
static void reject_lim(const char *line, size_t max_tags, size_t max_name, int want_rc,
                       OtsdbCmd want_cmd, OtsdbErr want_err, const char *want_reply)
{
    Buf key;
    Buf reply;
    OtsdbLine out;
    buf_init(&key);
    buf_init(&reply);
    int rc = otsdb_parse_line(slice_cstr(line), max_tags, max_name, &out, &key, &reply);
    if (rc == TS_OK)
        fail_msg("line [%s] accepted", line);
    /* The fast split never writes a reply (it may accept a line whose tags are bad). */
    OtsdbLine fast;
    size_t before = reply.n;
    (void)otsdb_split_put(slice_cstr(line), &fast, &reply);
    assert_int_equal(reply.n, before);
    assert_int_equal(rc, want_rc);
    assert_int_equal(out.cmd, want_cmd);
    assert_int_equal(out.err, want_err);
    assert_int_equal(key.n, 0);
    if (reply.n != strlen(want_reply) || memcmp(reply.p, want_reply, reply.n) != 0)
        fail_msg("line [%s]: reply [%.*s], want [%s]", line, (int)reply.n, (const char *)reply.p,
                 want_reply);
    buf_deinit(&key);
    buf_deinit(&reply);
}

static void reject(const char *line, OtsdbErr want_err, const char *want_reply)
{
    reject_lim(line, MAX_TAGS, MAX_NAME, TS_ERR_PROTO, OTSDB_PUT, want_err, want_reply);
}

static void illegal(const char *line, const char *want_reply)
{
    reject(line, OTSDB_ERR_ILLEGAL_ARGUMENT, want_reply);
}

static void invalid(const char *line, const char *want_reply)
{
    reject(line, OTSDB_ERR_INVALID_VALUE, want_reply);
}

static void test_put_basic(void **state)
{
    int64_t ts = 0;
    double v = 0;
    assert_string_equal(put_ok("put cpu.user 1483228800 10.5 host=a", &ts, &v), "cpu.user host=a");
    assert_int_equal(ts, 1483228800 * SEC);
    assert_true(v == 10.5);
    /* the example lines of OpenTSDB's documentation */
    assert_string_equal(
        put_ok("put sys.if.bytes.out 1479496100 1.3E3 host=web01 interface=eth0", &ts, &v),
        "sys.if.bytes.out host=web01 interface=eth0");
    assert_int_equal(ts, 1479496100 * SEC);
    assert_true(v == 1300.0);
    assert_string_equal(put_ok("put sys.procs.running 1479496100 42 host=web01", NULL, &v),
                        "sys.procs.running host=web01");
    assert_true(v == 42.0);
}

static void test_timestamp_units(void **state)
{
    /* seconds: up to 11 digits */
    assert_int_equal(ts_of("1"), 1 * SEC);
    assert_int_equal(ts_of("1483228800"), 1483228800 * SEC);
    assert_int_equal(ts_of("4294967296"), 4294967296LL * SEC); /* past 2^32: still seconds */
    assert_int_equal(ts_of("9223372036"), 9223372036LL * SEC);
    assert_int_equal(ts_of("0001483228800"), 1483228800 * SEC); /* leading zeros: magnitude */
    assert_int_equal(ts_of("+1483228800"), 1483228800 * SEC);
    /* milliseconds: 10^11 .. 10^14 - 1 (13 digits is the usual form) */
    assert_int_equal(ts_of("100000000000"), 100000000000LL * 1000000);
    assert_int_equal(ts_of("1483228800123"), 1483228800123LL * 1000000);
    assert_int_equal(ts_of("9223372036854"), 9223372036854LL * 1000000);
    /* microseconds: 10^14 .. 10^17 - 1 (16 digits) */
    assert_int_equal(ts_of("100000000000000"), 100000000000000LL * 1000);
    assert_int_equal(ts_of("1483228800123456"), 1483228800123456LL * 1000);
    assert_int_equal(ts_of("9223372036854775"), 9223372036854775LL * 1000);
    /* nanoseconds: 10^17 and up (19 digits) */
    assert_int_equal(ts_of("100000000000000000"), 100000000000000000LL);
    assert_int_equal(ts_of("1483228800123456789"), 1483228800123456789LL);
    assert_int_equal(ts_of("9223372036854775807"), INT64_MAX);
}

static void test_timestamp_fraction(void **state)
{
    assert_int_equal(ts_of("1483228800.5"), 1483228800 * SEC + 500000000);
    assert_int_equal(ts_of("1483228800.000000001"), 1483228800 * SEC + 1);
    assert_int_equal(ts_of("1483228800.123456789987"), 1483228800 * SEC + 123456789);
    assert_int_equal(ts_of("1483228800."), 1483228800 * SEC);
    assert_int_equal(ts_of("0.5"), 500000000);
    /* the integer part picks the unit; the fraction is of that unit */
    assert_int_equal(ts_of("1483228800500.25"), 1483228800500LL * 1000000 + 250000);
    assert_int_equal(ts_of("1483228800500000.5"), 1483228800500000LL * 1000 + 500);
    assert_int_equal(ts_of("1483228800500000000.9"), 1483228800500000000LL);
    assert_int_equal(ts_of("9223372036854775807.5"), INT64_MAX); /* sub-ns: truncated */
    /* OpenTSDB's own fractional form: seconds with milliseconds */
    assert_int_equal(ts_of("1483228800.250"), 1483228800 * SEC + 250000000);
}

static void test_timestamp_iso(void **state)
{
    assert_int_equal(ts_of("20170101T000000"), 1483228800 * SEC);
    assert_int_equal(ts_of("20170101T000000.5"), 1483228800 * SEC + 500000000);
    assert_int_equal(ts_of("20170101T000000,000000001"), 1483228800 * SEC + 1);
    assert_int_equal(ts_of("19700101T000001"), SEC);
    illegal("put m 20171301T000000 1 host=a",
            "put: illegal argument: invalid timestamp: 20171301T000000\n");
    illegal("put m 20170101T0000 1 host=a",
            "put: illegal argument: invalid timestamp: 20170101T0000\n");
    illegal("put m 20170101T000000Z 1 host=a",
            "put: illegal argument: invalid timestamp: 20170101T000000Z\n");
    illegal("put m 19600101T000000 1 host=a",
            "put: illegal argument: invalid timestamp: 19600101T000000\n");
    illegal("put m 19700101T000000 1 host=a",
            "put: illegal argument: invalid timestamp: 19700101T000000\n");
    /* 'T' elsewhere is not ISO: OpenTSDB's integer error */
    invalid("put m 2017T0101 1 host=a", "put: invalid value: Invalid character 'T' in 2017T0101\n");
}

static void test_timestamp_errors(void **state)
{
    /* the example of OpenTSDB's documentation */
    invalid("put metric.foo notatime 42 host=web01",
            "put: invalid value: Invalid character 'n' in notatime\n");
    invalid("put m  1 host=a", "put: invalid value: Empty string\n");
    invalid("put m - 1 host=a", "put: invalid value: Just a sign, no value: -\n");
    invalid("put m + 1 host=a", "put: invalid value: Just a sign, no value: +\n");
    invalid("put m 12a 1 host=a", "put: invalid value: Invalid character 'a' in 12a\n");
    invalid("put m 1.2.3 1 host=a", "put: invalid value: Invalid character '.' in 1.2.3\n");
    invalid("put m 1e9 1 host=a", "put: invalid value: Invalid character 'e' in 1e9\n");
    invalid("put m 12345678901234567890 1 host=a",
            "put: invalid value: Value too long: 12345678901234567890\n");
    invalid("put m 9223372036854775808 1 host=a",
            "put: invalid value: Overflow in 9223372036854775808\n");
    illegal("put m 0 1 host=a", "put: illegal argument: invalid timestamp: 0\n");
    illegal("put m 0.0 1 host=a", "put: illegal argument: invalid timestamp: 0.0\n");
    illegal("put m -5 1 host=a", "put: illegal argument: invalid timestamp: -5\n");
    illegal("put m -1483228800.5 1 host=a",
            "put: illegal argument: invalid timestamp: -1483228800.5\n");
    illegal("put m .5 1 host=a", "put: illegal argument: invalid timestamp: .5\n");
    /* past 2262: does not fit int64 nanoseconds in its unit */
    illegal("put m 9223372037 1 host=a", "put: illegal argument: invalid timestamp: 9223372037\n");
    illegal("put m 9999999999 1 host=a", "put: illegal argument: invalid timestamp: 9999999999\n");
    illegal("put m 99999999999 1 host=a",
            "put: illegal argument: invalid timestamp: 99999999999\n");
    illegal("put m 9223372036855 1 host=a",
            "put: illegal argument: invalid timestamp: 9223372036855\n");
    illegal("put m 99999999999999999 1 host=a",
            "put: illegal argument: invalid timestamp: 99999999999999999\n");
    illegal("put m 9223372036.9999999999 1 host=a",
            "put: illegal argument: invalid timestamp: 9223372036.9999999999\n");
}

static void test_values(void **state)
{
    assert_true(value_of("42") == 42.0);
    assert_true(value_of("-42") == -42.0);
    assert_true(value_of("+7") == 7.0);
    assert_true(value_of("-3.5") == -3.5);
    assert_true(value_of("1e3") == 1000.0);
    assert_true(value_of("1.3E3") == 1300.0);
    assert_true(value_of("-1e-3") == -0.001);
    assert_true(value_of("2.5e+2") == 250.0);
    assert_true(value_of(".5") == 0.5);
    assert_true(value_of("5.") == 5.0);
    assert_true(value_of("0") == 0.0);
    assert_true(value_of("9007199254740993") == 9007199254740992.0); /* rounded, not refused */
    assert_true(value_of("123456789012345678901234567890") == 1.2345678901234568e29);
    assert_true(isinf(value_of("inf")) && value_of("inf") > 0);
    assert_true(isinf(value_of("-Infinity")) && value_of("-Infinity") < 0);
    assert_true(isinf(value_of("1e999")));
    assert_true(isnan(value_of("nan")));
    assert_true(isnan(value_of("-NaN")));
}

static void test_value_errors(void **state)
{
    illegal("put m 1483228800  host=a", "put: illegal argument: empty value\n");
    invalid("put m 1483228800 abc host=a", "put: invalid value: Invalid character 'a' in abc\n");
    invalid("put m 1483228800 12x host=a", "put: invalid value: Invalid character 'x' in 12x\n");
    invalid("put m 1483228800 0x10 host=a", "put: invalid value: Invalid character 'x' in 0x10\n");
    invalid("put m 1483228800 - host=a", "put: invalid value: Just a sign, no value: -\n");
    invalid("put m 1483228800 +-5 host=a", "put: invalid value: Invalid character '-' in +-5\n");
    invalid("put m 1483228800 1.5x host=a", "put: invalid value: For input string: \"1.5x\"\n");
    invalid("put m 1483228800 1e host=a", "put: invalid value: For input string: \"1e\"\n");
    invalid("put m 1483228800 . host=a", "put: invalid value: For input string: \".\"\n");
    invalid("put m 1483228800 1.2.3 host=a", "put: invalid value: multiple points\n");
    invalid("put m 1483228800 nan(1) host=a",
            "put: invalid value: Invalid character 'n' in nan(1)\n");
    invalid("put m 1483228800 1\t host=a", "put: invalid value: Invalid character '\t' in 1\t\n");
}

static void test_crlf(void **state)
{
    int64_t ts = 0;
    double v = 0;
    assert_string_equal(put_ok("put m 1483228800 1 host=a\r", &ts, &v), "m host=a");
    assert_int_equal(ts, 1483228800 * SEC);
    /* only one '\r' is stripped; a second one is a control byte in the tag value */
    illegal("put m 1483228800 1 host=a\r\r",
            "put: illegal argument: Invalid tag value (\"a\r\"): illegal character: \r\n");
    /* a '\r' that is not at the end of the line stays in its word */
    invalid("put m 1483228800 1\r host=a", "put: invalid value: Invalid character '\r' in 1\r\n");
}

static void test_canonical_names(void **state)
{
    assert_string_equal(put_ok("put m 1 2 zone=b host=a a=1", NULL, NULL), "m a=1 host=a zone=b");
    assert_string_equal(put_ok("put m 1 2 ab=1 a=2", NULL, NULL), "m a=2 ab=1");
    assert_string_equal(put_ok("put m 1 2 a-b=1 a=2", NULL, NULL), "m a=2 a-b=1");
    assert_string_equal(put_ok("put m 1 2 b=1 B=2", NULL, NULL), "m B=2 b=1"); /* bytewise */
    /* a repeated tag with the same value is merged (OpenTSDB's Tags.parse) */
    assert_string_equal(put_ok("put m 1 2 host=a host=a", NULL, NULL), "m host=a");
    /* empty words between and after tags are skipped */
    assert_string_equal(put_ok("put m 1 2 host=a  dc=x ", NULL, NULL), "m dc=x host=a");
    /* bytes OpenTSDB would refuse but cairn stores as sent (no character set) */
    assert_string_equal(put_ok("put web:cpu% 1 2 path=/var/log user=\xc3\xa9", NULL, NULL),
                        "web:cpu% path=/var/log user=\xc3\xa9");
    assert_string_equal(put_ok("put a\\b 1 2 k\\=v", NULL, NULL), "a\\b k\\=v");
}

static void test_name_errors(void **state)
{
    illegal("put m 1483228800 1 host", "put: illegal argument: invalid tag: host\n");
    illegal("put m 1483228800 1 =a", "put: illegal argument: invalid tag: =a\n");
    illegal("put m 1483228800 1 host=", "put: illegal argument: invalid tag: host=\n");
    illegal("put m 1483228800 1 host=a=b", "put: illegal argument: invalid tag: host=a=b\n");
    illegal("put m 1483228800 1 dc=x host=a host=b",
            "put: illegal argument: duplicate tag: host=b, tags={dc=x, host=a}\n");
    /* no tags: only possible with an empty word, since 'put m ts v' has 3 arguments */
    illegal("put m 1483228800 1 ",
            "put: illegal argument: Need at least one tag (metric=m, tags={})\n");
    illegal("put m 1483228800 1  ",
            "put: illegal argument: Need at least one tag (metric=m, tags={})\n");
    illegal("put  1483228800 1 host=a", "put: illegal argument: empty metric name\n");
    illegal("put m\\ 1483228800 1 host=a",
            "put: illegal argument: Invalid metric name (\"m\\\"): illegal character: \\\n");
    illegal("put m 1483228800 1 host=a\\",
            "put: illegal argument: Invalid tag value (\"a\\\"): illegal character: \\\n");
    illegal("put m\tx 1483228800 1 host=a",
            "put: illegal argument: Invalid metric name (\"m\tx\"): illegal character: \t\n");
    illegal("put m 1483228800 1 h\x01=a",
            "put: illegal argument: Invalid tag name (\"h\x01\"): illegal character: \x01\n");
    illegal("put m 1483228800 1 host=a\x7f",
            "put: illegal argument: Invalid tag value (\"a\x7f\"): illegal character: \x7f\n");
}

static void test_check_order(void **state)
{
    /* OpenTSDB's order: count, metric, timestamp, value present, tags, value, tag count,
     * characters */
    illegal("put  x 1 host=a", "put: illegal argument: empty metric name\n");
    invalid("put m x y host", "put: invalid value: Invalid character 'x' in x\n");
    illegal("put m 0 y host", "put: illegal argument: invalid timestamp: 0\n");
    illegal("put m 1 y host", "put: illegal argument: invalid tag: host\n");
    invalid("put m 1 y ", "put: invalid value: Invalid character 'y' in y\n");
    illegal("put m\\ 1 2 ", "put: illegal argument: Need at least one tag (metric=m\\, tags={})\n");
}

static void test_argument_count(void **state)
{
    illegal("put", "put: illegal argument: not enough arguments (need least 4, got 0)\n");
    illegal("put\r", "put: illegal argument: not enough arguments (need least 4, got 0)\n");
    illegal("put m", "put: illegal argument: not enough arguments (need least 4, got 1)\n");
    illegal("put m 1", "put: illegal argument: not enough arguments (need least 4, got 2)\n");
    illegal("put m 1483228800 1",
            "put: illegal argument: not enough arguments (need least 4, got 3)\n");
    illegal("put m 1483228800 1\r",
            "put: illegal argument: not enough arguments (need least 4, got 3)\n");
}

static void command(const char *line, OtsdbCmd want)
{
    Buf key;
    Buf reply;
    OtsdbLine out;
    buf_init(&key);
    buf_init(&reply);
    memset(&out, 0xa5, sizeof(out));
    int rc = otsdb_parse_line(slice_cstr(line), MAX_TAGS, MAX_NAME, &out, &key, &reply);
    if (rc != TS_OK)
        fail_msg("line [%s] rejected", line);
    assert_int_equal(out.cmd, want);
    assert_int_equal(out.err, OTSDB_ERR_NONE);
    assert_int_equal(key.n, 0);
    assert_int_equal(reply.n, 0);
    buf_deinit(&key);
    buf_deinit(&reply);
}

static void test_commands(void **state)
{
    command("version", OTSDB_VERSION);
    command("version\r", OTSDB_VERSION);
    command("version now please", OTSDB_VERSION);
    command("stats", OTSDB_STATS);
    command("stats\r", OTSDB_STATS);
    command("help", OTSDB_HELP);
    command("exit", OTSDB_EXIT);
    command("exit\r", OTSDB_EXIT);
    command("dropcaches", OTSDB_DROPCACHES);
    command("", OTSDB_EMPTY);
    command("\r", OTSDB_EMPTY);
    command("   ", OTSDB_EMPTY);
    command("  \r", OTSDB_EMPTY);
}

static void test_unknown_commands(void **state)
{
    reject_lim("nosuchcommand", MAX_TAGS, MAX_NAME, TS_ERR_PROTO, OTSDB_UNKNOWN,
               OTSDB_ERR_UNKNOWN_COMMAND, "unknown command: nosuchcommand.  Try `help'.\n");
    reject_lim("nosuchcommand with args\r", MAX_TAGS, MAX_NAME, TS_ERR_PROTO, OTSDB_UNKNOWN,
               OTSDB_ERR_UNKNOWN_COMMAND, "unknown command: nosuchcommand.  Try `help'.\n");
    reject_lim("PUT m 1 2 host=a", MAX_TAGS, MAX_NAME, TS_ERR_PROTO, OTSDB_UNKNOWN,
               OTSDB_ERR_UNKNOWN_COMMAND, "unknown command: PUT.  Try `help'.\n");
    reject_lim(" put m 1 2 host=a", MAX_TAGS, MAX_NAME, TS_ERR_PROTO, OTSDB_UNKNOWN,
               OTSDB_ERR_UNKNOWN_COMMAND, "unknown command: .  Try `help'.\n");
    reject_lim("diediedie", MAX_TAGS, MAX_NAME, TS_ERR_PROTO, OTSDB_UNKNOWN,
               OTSDB_ERR_UNKNOWN_COMMAND, "unknown command: diediedie.  Try `help'.\n");
    reject_lim("putx m 1 2 host=a", MAX_TAGS, MAX_NAME, TS_ERR_PROTO, OTSDB_UNKNOWN,
               OTSDB_ERR_UNKNOWN_COMMAND, "unknown command: putx.  Try `help'.\n");
    reject_lim("rollup 1h-SUM m 1483228800 1 host=a", MAX_TAGS, MAX_NAME, TS_ERR_PROTO,
               OTSDB_IGNORED, OTSDB_ERR_ILLEGAL_ARGUMENT,
               "rollup: illegal argument: No rollup or aggregations were configured\n");
    reject_lim("histogram m 1483228800 AAA= host=a\r", MAX_TAGS, MAX_NAME, TS_ERR_PROTO,
               OTSDB_IGNORED, OTSDB_ERR_ILLEGAL_ARGUMENT,
               "histogram: illegal argument: histograms are not supported\n");
}

static void test_limits(void **state)
{
    /* tag count: duplicates merged before counting */
    assert_string_equal(put_ok_lim("put m 1 2 a=1 b=2", 2, MAX_NAME, NULL, NULL), "m a=1 b=2");
    assert_string_equal(put_ok_lim("put m 1 2 a=1 a=1 b=2", 2, MAX_NAME, NULL, NULL), "m a=1 b=2");
    reject_lim("put m 1 2 a=1 b=2 c=3", 2, MAX_NAME, TS_ERR_LIMIT, OTSDB_PUT,
               OTSDB_ERR_ILLEGAL_ARGUMENT,
               "put: illegal argument: Too many tags: 3 maximum allowed: 2, tags: "
               "{a=1, b=2, c=3}\n");
    reject_lim("put m 1 2 a=1", 0, MAX_NAME, TS_ERR_LIMIT, OTSDB_PUT, OTSDB_ERR_ILLEGAL_ARGUMENT,
               "put: illegal argument: Too many tags: 1 maximum allowed: 0, tags: {a=1}\n");
    /* key length: "m a=1" is 5 bytes */
    assert_string_equal(put_ok_lim("put m 1 2 a=1", MAX_TAGS, 5, NULL, NULL), "m a=1");
    reject_lim("put m 1 2 a=1", MAX_TAGS, 4, TS_ERR_LIMIT, OTSDB_PUT, OTSDB_ERR_ILLEGAL_ARGUMENT,
               "put: illegal argument: Series name too long: 5 bytes maximum allowed: 4\n");

    /* more tags than the key module can hold (256): refused, never truncated */
    Buf line;
    Buf want;
    buf_init(&line);
    buf_init(&want);
    buf_puts(&line, "put m 1 2");
    buf_puts(&want, "put: illegal argument: Too many tags: 300 maximum allowed: 256, tags: {");
    for (int i = 0; i < 300; i++) {
        buf_printf(&line, " t%03d=v", i);
        buf_printf(&want, "%st%03d=v", i ? ", " : "", i);
    }
    buf_puts(&want, "}\n");
    buf_put_u8(&line, '\0');
    buf_put_u8(&want, '\0');
    reject_lim((const char *)line.p, 100000, 1000000, TS_ERR_LIMIT, OTSDB_PUT,
               OTSDB_ERR_ILLEGAL_ARGUMENT, (const char *)want.p);

    /* 256 tags fit */
    buf_clear(&line);
    buf_puts(&line, "put m 1 2");
    for (int i = 255; i >= 0; i--)
        buf_printf(&line, " t%03d=v", i);
    buf_put_u8(&line, '\0');
    const char *k = put_ok_lim((const char *)line.p, 100000, 1000000, NULL, NULL);
    assert_int_equal(strlen(k), 1 + 256 * 7);
    assert_memory_equal(k, "m t000=v t001=v", 15);

    /* number words longer than OTSDB_NUM_MAX */
    buf_clear(&line);
    buf_clear(&want);
    buf_puts(&line, "put m 1483228800 ");
    buf_puts(&want, "put: invalid value: Value too long: ");
    for (int i = 0; i < OTSDB_NUM_MAX + 1; i++) {
        buf_put_u8(&line, '1');
        buf_put_u8(&want, '1');
    }
    buf_puts(&line, " host=a");
    buf_puts(&want, "\n");
    buf_put_u8(&line, '\0');
    buf_put_u8(&want, '\0');
    invalid((const char *)line.p, (const char *)want.p);
    /* OTSDB_NUM_MAX digits of value are fine */
    line.n -= 1 + 8; /* drop NUL, " host=a" and one digit */
    buf_puts(&line, " host=a");
    buf_put_u8(&line, '\0');
    double v = 0;
    put_ok((const char *)line.p, NULL, &v);
    assert_true(v > 1e254 && v < 1e255);

    buf_deinit(&line);
    buf_deinit(&want);
}

static void test_buffers_appended(void **state)
{
    Buf key;
    Buf reply;
    OtsdbLine out;
    buf_init(&key);
    buf_init(&reply);
    buf_puts(&key, "K|");
    buf_puts(&reply, "R|");
    assert_int_equal(
        otsdb_parse_line(slice_cstr("put m 1 2 host=a"), MAX_TAGS, MAX_NAME, &out, &key, &reply),
        TS_OK);
    assert_int_equal(key.n, 10);
    assert_memory_equal(key.p, "K|m host=a", 10);
    assert_int_equal(reply.n, 2);
    assert_int_equal(otsdb_parse_line(slice_cstr("bogus"), MAX_TAGS, MAX_NAME, &out, &key, &reply),
                     TS_ERR_PROTO);
    assert_int_equal(key.n, 10);
    const char *want = "R|unknown command: bogus.  Try `help'.\n";
    assert_int_equal(reply.n, strlen(want));
    assert_memory_equal(reply.p, want, reply.n);

    /* the line need not be NUL-terminated and is not written */
    const char bytes[] = {'h', 'e', 'l', 'p', 'x'};
    assert_int_equal(otsdb_parse_line(slice_make(bytes, 4), MAX_TAGS, MAX_NAME, &out, &key, &reply),
                     TS_OK);
    assert_int_equal(out.cmd, OTSDB_HELP);
    buf_deinit(&key);
    buf_deinit(&reply);
}

/* The split of 'line' (which has an accepted put's name): TS_OK exactly when the full parse
 * accepts it, with the same fields. */
static void split_agrees(const char *line)
{
    Buf key;
    Buf reply;
    OtsdbLine full;
    OtsdbLine fast;
    buf_init(&key);
    buf_init(&reply);
    int rc_full = otsdb_parse_line(slice_cstr(line), MAX_TAGS, MAX_NAME, &full, &key, &reply);
    size_t before = reply.n;
    int rc_fast = otsdb_split_put(slice_cstr(line), &fast, &reply);
    assert_int_equal(reply.n, before);
    if ((rc_full == TS_OK && full.cmd == OTSDB_PUT) != (rc_fast == TS_OK))
        fail_msg("line [%s]: full %d, split %d", line, rc_full, rc_fast);
    if (rc_fast == TS_OK) {
        assert_int_equal(fast.ts_ns, full.ts_ns);
        assert_memory_equal(&fast.value, &full.value, sizeof(double));
    }
    buf_deinit(&key);
    buf_deinit(&reply);
}

static void test_split_put(void **state)
{
    /* Every timestamp and value form, good and bad, after names that were accepted. */
    const char *names[][2] = {{"cpu.user", "host=a dc=b"},
                              {"m", " host=a  x=y "},
                              {"sys.if", "interface=eth0 host=web01"}};
    const char *ts[] = {"1483228800",
                        "1483228800500",
                        "1483228800.5",
                        "20170101T000000",
                        "+1483228800",
                        "-5",
                        "0",
                        "",
                        "12x",
                        "99999999999999999999",
                        "1.2.3"};
    const char *vals[] = {"42",
                          "-3.5",
                          ".5",
                          "5.",
                          "1e3",
                          "inf",
                          "-NaN",
                          "",
                          "x",
                          "1..2",
                          "0x10",
                          "1e",
                          "123456789012345678901234567890"};
    char line[256];
    for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
        snprintf(line, sizeof line, "put %s 1 1 %s", names[n][0], names[n][1]);
        put_ok(line, NULL, NULL);
        for (size_t t = 0; t < sizeof(ts) / sizeof(ts[0]); t++) {
            for (size_t v = 0; v < sizeof(vals) / sizeof(vals[0]); v++) {
                snprintf(line, sizeof line, "put %s %s %s %s", names[n][0], ts[t], vals[v],
                         names[n][1]);
                split_agrees(line);
                snprintf(line, sizeof line, "put %s %s %s %s\r", names[n][0], ts[t], vals[v],
                         names[n][1]);
                split_agrees(line);
            }
        }
    }
    /* Shapes the split refuses (the full parser then answers or accepts). */
    Buf scratch;
    OtsdbLine out;
    buf_init(&scratch);
    const char *no[] = {"put m 1 2",     "put m 1 2 ",   "put  m 1 2 h=1", " put m 1 2 h=1",
                        "PUT m 1 2 h=1", "put m 1",      "version",        "",
                        "put m 1 x h=1", "put m 0 2 h=1"};
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        if (otsdb_split_put(slice_cstr(no[i]), &out, &scratch) == TS_OK)
            fail_msg("split accepted [%s]", no[i]);
        assert_int_equal(scratch.n, 0);
    }
    /* The tags are not looked at: a bad tag list splits (its name is never cached). */
    assert_int_equal(otsdb_split_put(slice_cstr("put m 1 2 nonsense"), &out, &scratch), TS_OK);
    assert_int_equal(out.tags.n, 8);
    buf_deinit(&scratch);
}

static void assert_buf(Buf *b, const char *want)
{
    if (b->n != strlen(want) || memcmp(b->p, want, b->n) != 0)
        fail_msg("got [%.*s], want [%s]", (int)b->n, (const char *)b->p, want);
    buf_clear(b);
}

static void test_writers(void **state)
{
    Buf b;
    buf_init(&b);
    otsdb_write_version(&b, "0.3.1");
    assert_buf(&b, "net.opentsdb.tools BuildData built at revision 0.3.1 (MINT)\n"
                   "Built by cairn 0.3.1, an OpenTSDB telnet compatible server\n");
    otsdb_write_help(&b);
    assert_buf(&b, "available commands: put stats dropcaches version exit help \n");
    assert_string_equal(OTSDB_REPLY_DROPCACHES, "Caches dropped.\n");

    otsdb_write_stat(&b, "tsd.rpc.received", 1479600574, 12, "type=put host=web01");
    assert_buf(&b, "tsd.rpc.received 1479600574 12 type=put host=web01\n");
    otsdb_write_stat(&b, "tsd.connectionmgr.connections", 1479600574, 0, NULL);
    assert_buf(&b, "tsd.connectionmgr.connections 1479600574 0\n");
    otsdb_write_stat(&b, "x", 1, 3, "");
    assert_buf(&b, "x 1 3\n");
    otsdb_write_stat(&b, "x", 1, -3, "a=b");
    assert_buf(&b, "x 1 -3 a=b\n");
    otsdb_write_stat(&b, "x", 1, 0.1, NULL);
    assert_buf(&b, "x 1 0.1\n");
    otsdb_write_stat(&b, "x", 1, 2.5, NULL);
    assert_buf(&b, "x 1 2.5\n");
    otsdb_write_stat(&b, "x", 1, 1.0 / 3.0, NULL);
    assert_buf(&b, "x 1 0.3333333333333333\n");
    otsdb_write_stat(&b, "x", 1, 9007199254740992.0, NULL);
    assert_buf(&b, "x 1 9007199254740992\n");
    otsdb_write_stat(&b, "x", 1, 1e300, NULL);
    assert_buf(&b, "x 1 1e+300\n");
    otsdb_write_stat(&b, "x", 1, NAN, NULL);
    assert_buf(&b, "x 1 NaN\n");
    otsdb_write_stat(&b, "x", 1, -INFINITY, NULL);
    assert_buf(&b, "x 1 -Infinity\n");
    buf_deinit(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_basic),
        cmocka_unit_test(test_timestamp_units),
        cmocka_unit_test(test_timestamp_fraction),
        cmocka_unit_test(test_timestamp_iso),
        cmocka_unit_test(test_timestamp_errors),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_value_errors),
        cmocka_unit_test(test_crlf),
        cmocka_unit_test(test_canonical_names),
        cmocka_unit_test(test_name_errors),
        cmocka_unit_test(test_check_order),
        cmocka_unit_test(test_argument_count),
        cmocka_unit_test(test_commands),
        cmocka_unit_test(test_unknown_commands),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_buffers_appended),
        cmocka_unit_test(test_writers),
        cmocka_unit_test(test_split_put),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
