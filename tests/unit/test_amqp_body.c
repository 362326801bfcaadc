/*
 * Unit tests for proto/amqp_body: splitting message bodies into lines and carbon's
 * routing-key-form lines "value timestamp" / "value" (numbers, timestamps, NaN, errors).
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

#include "proto/amqp_body.h"

#define NOW_NS 1700000000123456789LL
#define NOW_SEC_NS 1700000000000000000LL
#define SEC 1000000000LL

static AmqpValueLine parse_ok(const char *line)
{
    AmqpValueLine v;
    TsError err;
    memset(&v, 0xa5, sizeof(v));
    int rc = amqp_body_parse_value_line(slice_cstr(line), NOW_NS, &v, &err);
    if (rc != TS_OK)
        fail_msg("line [%s] rejected: %s", line, err.msg);
    return v;
}

static void parse_err(const char *line, size_t want_pos, const char *want_msg)
{
    AmqpValueLine v;
    TsError err;
    memset(&err, 0, sizeof(err));
    int rc = amqp_body_parse_value_line(slice_cstr(line), NOW_NS, &v, &err);
    if (rc != TS_ERR_PROTO)
        fail_msg("line [%s] accepted", line);
    assert_string_equal(err.msg, want_msg);
    assert_int_equal(err.pos, want_pos);
}

static void test_value_and_timestamp(void **state)
{
    AmqpValueLine v = parse_ok("1.5 1700000000");
    assert_true(v.value == 1.5);
    assert_int_equal(v.ts_ns, 1700000000 * SEC);
    assert_false(v.is_nan);

    v = parse_ok("  -2e3\t1700000010.9\r"); /* blanks, tab, CR, fraction truncated */
    assert_true(v.value == -2000.0);
    assert_int_equal(v.ts_ns, 1700000010 * SEC);

    v = parse_ok("inf 0");
    assert_true(isinf(v.value) && v.value > 0);
    assert_int_equal(v.ts_ns, 0);

    v = parse_ok("0.1 -1700000000.5"); /* before the epoch: truncated toward zero */
    assert_int_equal(v.ts_ns, -1700000000 * SEC);

    v = parse_ok("1 -0.5"); /* trunc(-0.5) = 0, not -1 */
    assert_int_equal(v.ts_ns, 0);
}

static void test_value_only_means_now(void **state)
{
    AmqpValueLine v = parse_ok("42");
    assert_true(v.value == 42.0);
    assert_int_equal(v.ts_ns, NOW_SEC_NS);
    v = parse_ok("7 -1"); /* -1 also means now, as on the plaintext port */
    assert_int_equal(v.ts_ns, NOW_SEC_NS);
    v = parse_ok("7 -1.9");
    assert_int_equal(v.ts_ns, NOW_SEC_NS);
}

static void test_nan_dropped(void **state)
{
    const char *nans[] = {"nan 1700000000", "NaN", "-nan 5", "+NAN inf", "nan 1e300"};
    for (size_t i = 0; i < sizeof(nans) / sizeof(nans[0]); i++) {
        AmqpValueLine v = parse_ok(nans[i]);
        assert_true(v.is_nan);
        assert_true(isnan(v.value));
    }
}

static void test_errors(void **state)
{
    parse_err("", 0, "empty line");
    parse_err(" \t\r", 0, "empty line");
    parse_err("1 2 3", 4, "expected 'value timestamp' or 'value', got 3 fields");
    parse_err("a.b 1 1700000000", 6, "expected 'value timestamp' or 'value', got 3 fields");
    parse_err("x 1700000000", 0, "invalid value");
    parse_err(" 0x10 1", 1, "invalid value");
    parse_err("1_000 1", 0, "invalid value");
    parse_err("1 N", 2, "invalid timestamp: 'N' (now) is not supported, use -1");
    parse_err("1 now", 2, "invalid timestamp");
    parse_err("1 inf", 2, "timestamp is not finite");
    parse_err("1 -inf", 2, "timestamp is not finite");
    parse_err("1 nan", 2, "timestamp is not finite");
    parse_err("1 1e300", 2, "timestamp out of range");
    parse_err("1 9223372037", 2, "timestamp out of range");
    /* the largest whole second whose nanoseconds fit */
    AmqpValueLine v = parse_ok("1 9223372036");
    assert_int_equal(v.ts_ns, 9223372036LL * SEC);
    v = parse_ok("1 -9223372036");
    assert_int_equal(v.ts_ns, -9223372036LL * SEC);
}

static void test_number_length_cap(void **state)
{
    char line[600];
    memset(line, '1', 255);
    memcpy(line + 255, " 5", 3);
    AmqpValueLine v = parse_ok(line);
    assert_true(v.value > 1e254);
    memset(line, '1', 256);
    memcpy(line + 256, " 5", 3);
    parse_err(line, 0, "invalid value");
}

/* Collect the lines amqp_body_next_line yields, joined with '|'. */
static void lines_of(const char *body, size_t n, char *out, size_t cap)
{
    Slice b = slice_make((const uint8_t *)body, n);
    size_t pos = 0;
    size_t o = 0;
    Slice line;
    int guard = 0;
    out[0] = '\0';
    while (amqp_body_next_line(b, &pos, &line)) {
        assert_true(++guard < 100);
        assert_true(pos <= n);
        assert_true(line.p >= b.p && line.p + line.n <= b.p + n);
        o += (size_t)snprintf(out + o, cap - o, "%s%.*s", o ? "|" : "", (int)line.n,
                              (const char *)line.p);
        assert_true(o < cap);
    }
    assert_int_equal(pos, n);
}

static void test_lines(void **state)
{
    char out[256];
    const char *b1 = "a 1 2\nb 3 4\n";
    lines_of(b1, strlen(b1), out, sizeof(out));
    assert_string_equal(out, "a 1 2|b 3 4");

    const char *b2 = "\n\n  \r\n1 2\r\n\t\n3"; /* blank lines skipped, last without '\n' */
    lines_of(b2, strlen(b2), out, sizeof(out));
    assert_string_equal(out, "1 2\r|3");

    lines_of("", 0, out, sizeof(out));
    assert_string_equal(out, "");
    lines_of(" \n \n", 4, out, sizeof(out));
    assert_string_equal(out, "");

    /* NUL bytes are not whitespace: such a line is returned (and then fails to parse) */
    const char b3[] = {'\n', '\0', '\n'};
    Slice b = slice_make((const uint8_t *)b3, sizeof(b3));
    size_t pos = 0;
    Slice line;
    assert_true(amqp_body_next_line(b, &pos, &line));
    assert_int_equal(line.n, 1);
    assert_int_equal(pos, 3);
    assert_false(amqp_body_next_line(b, &pos, &line));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_value_and_timestamp), cmocka_unit_test(test_value_only_means_now),
        cmocka_unit_test(test_nan_dropped),         cmocka_unit_test(test_errors),
        cmocka_unit_test(test_number_length_cap),   cmocka_unit_test(test_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
