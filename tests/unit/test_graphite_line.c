/*
 * Unit tests for proto/graphite_line: plaintext line parsing (fields, whitespace, numbers,
 * timestamps, NaN) and Graphite name -> canonical key mapping with carbon's exact error texts.
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
#include "core/series_key.h"
#include "proto/graphite_line.h"

#define NOW_NS 1700000000123456789LL
#define NOW_SEC_NS 1700000000000000000LL
#define SEC 1000000000LL
#define BIG 100000

static GraphiteLine parse_ok(const char *line)
{
    GraphiteLine g;
    TsError err;
    memset(&g, 0xa5, sizeof(g));
    int rc = graphite_line_parse(slice_cstr(line), NOW_NS, &g, &err);
    if (rc != TS_OK)
        fail_msg("line [%s] rejected: %s", line, err.msg);
    return g;
}

static void parse_err(const char *line, size_t want_pos, const char *want_msg)
{
    GraphiteLine g;
    TsError err;
    memset(&err, 0, sizeof(err));
    int rc = graphite_line_parse(slice_cstr(line), NOW_NS, &g, &err);
    if (rc != TS_ERR_PROTO)
        fail_msg("line [%s] accepted", line);
    assert_string_equal(err.msg, want_msg);
    assert_int_equal(err.pos, want_pos);
}

static void test_basic(void **state)
{
    const char *line = "a.b.c 1.5 1700000000";
    GraphiteLine g = parse_ok(line);
    assert_ptr_equal(g.name.p, line); /* borrowed from the line */
    assert_int_equal(g.name.n, 5);
    assert_true(g.value == 1.5);
    assert_int_equal(g.ts_ns, 1700000000 * SEC);
    assert_false(g.is_nan);
}

static void test_whitespace_variants(void **state)
{
    /* collectd write_graphite: CRLF (the caller strips only the '\n') */
    GraphiteLine g = parse_ok("host.cpu.0.idle 98.5 1700000000\r");
    assert_true(slice_eq_cstr(g.name, "host.cpu.0.idle"));
    assert_int_equal(g.ts_ns, 1700000000 * SEC);
    /* statsd */
    g = parse_ok("stats.counters.hits.count 3 1700000001");
    assert_true(g.value == 3.0);
    /* tabs, runs of spaces, leading and trailing whitespace, \v and \f */
    g = parse_ok(" \t a.b\t\t 2 \t1700000002 \r\n");
    assert_true(slice_eq_cstr(g.name, "a.b"));
    assert_true(g.value == 2.0);
    assert_int_equal(g.ts_ns, 1700000002 * SEC);
    g = parse_ok("a\v1\f2");
    assert_int_equal(g.ts_ns, 2 * SEC);
}

static void check_value(const char *v, double want)
{
    char line[128];
    snprintf(line, sizeof(line), "m %s 10", v);
    GraphiteLine g = parse_ok(line);
    assert_false(g.is_nan);
    if (g.value != want || signbit(g.value) != signbit(want))
        fail_msg("value [%s] parsed as %g, want %g", v, g.value, want);
}

static void test_values(void **state)
{
    check_value("1", 1.0);
    check_value("1.5", 1.5);
    check_value("1e3", 1000.0);
    check_value("1E+3", 1000.0);
    check_value("2.5e-1", 0.25);
    check_value(".5", 0.5);
    check_value("5.", 5.0);
    check_value("+7", 7.0);
    check_value("-0", -0.0);
    check_value("-0.0", -0.0);
    check_value("007", 7.0);
    check_value("inf", INFINITY);
    check_value("-inf", -INFINITY);
    check_value("+INF", INFINITY);
    check_value("Infinity", INFINITY);
    check_value("-iNfInItY", -INFINITY);
    check_value("1e999", INFINITY);
    check_value("-1e999", -INFINITY);
    check_value("1e-999", 0.0);
    check_value("0.1", 0.1);
    check_value("123456789.123456789", 123456789.123456789);
}

static void test_nan_values(void **state)
{
    static const char *nans[] = {"nan", "NaN", "NAN", "nAn", "-nan", "+NaN"};
    for (size_t i = 0; i < sizeof(nans) / sizeof(nans[0]); i++) {
        char line[64];
        snprintf(line, sizeof(line), "m %s 1700000000", nans[i]);
        GraphiteLine g = parse_ok(line);
        assert_true(g.is_nan);
        assert_true(isnan(g.value));
        assert_int_equal(g.ts_ns, 1700000000 * SEC);
    }
    /* carbon filters NaN before int(ts): an infinite or nan timestamp is then not an error */
    GraphiteLine g = parse_ok("m nan inf");
    assert_true(g.is_nan);
    assert_int_equal(g.ts_ns, 0);
    g = parse_ok("m NaN nan");
    assert_true(g.is_nan);
    /* but a syntactically bad timestamp still is */
    parse_err("m nan x", 6, "invalid timestamp");
}

static void test_bad_values(void **state)
{
    static const char *bad[] = {"0x1p3", "0x10", "1_000", "infi", "infinit",  "nan(1)", "1e",
                                "e3",    ".",    "+",     "-",    "1.2.3",    "--1",    "1,5",
                                "1e+",   "in",   "nana",  "1.5f", "\xd9\xa1", "N",      "+-1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char line[64];
        snprintf(line, sizeof(line), "m.x %s 1700000000", bad[i]);
        parse_err(line, 4, "invalid value");
    }
    char line[400];
    memset(line, '1', sizeof(line));
    memcpy(line, "m ", 2);
    /* GRAPHITE_NUM_MAX digits are fine, one more is not */
    line[2 + GRAPHITE_NUM_MAX] = ' ';
    memcpy(line + 3 + GRAPHITE_NUM_MAX, "1", 2);
    GraphiteLine g = parse_ok(line);
    assert_true(g.value > 1e254);
    line[2 + GRAPHITE_NUM_MAX] = '1';
    line[3 + GRAPHITE_NUM_MAX] = ' ';
    memcpy(line + 4 + GRAPHITE_NUM_MAX, "1", 2);
    parse_err(line, 2, "invalid value");
}

static void test_timestamps(void **state)
{
    assert_int_equal(parse_ok("m 1 -1").ts_ns, NOW_SEC_NS);
    assert_int_equal(parse_ok("m 1 -1.0").ts_ns, NOW_SEC_NS);
    assert_int_equal(parse_ok("m 1 -1.9").ts_ns, NOW_SEC_NS); /* int(-1.9) == -1 */
    assert_int_equal(parse_ok("m 1 -1e0").ts_ns, NOW_SEC_NS);
    assert_int_equal(parse_ok("m 1 -0.5").ts_ns, 0); /* int(-0.5) == 0 */
    assert_int_equal(parse_ok("m 1 -2").ts_ns, -2 * SEC);
    assert_int_equal(parse_ok("m 1 -100.7").ts_ns, -100 * SEC);
    assert_int_equal(parse_ok("m 1 1700000000.999").ts_ns, 1700000000 * SEC);
    assert_int_equal(parse_ok("m 1 1.5e9").ts_ns, 1500000000 * SEC);
    assert_int_equal(parse_ok("m 1 0").ts_ns, 0);
    assert_int_equal(parse_ok("m 1 9223372036").ts_ns, 9223372036 * SEC);
    assert_int_equal(parse_ok("m 1 9223372036.99").ts_ns, 9223372036 * SEC);
    assert_int_equal(parse_ok("m 1 -9223372036").ts_ns, -9223372036 * SEC);

    parse_err("m 1 9223372037", 4, "timestamp out of range");
    parse_err("m 1 -9223372037", 4, "timestamp out of range");
    parse_err("m 1 1e300", 4, "timestamp out of range");
    parse_err("m 1 inf", 4, "timestamp is not finite");
    parse_err("m 1 -Infinity", 4, "timestamp is not finite");
    parse_err("m 1 1e999", 4, "timestamp is not finite");
    parse_err("m 1 nan", 4, "timestamp is not finite");
    parse_err("m 1 N", 4, "invalid timestamp: 'N' (now) is not supported, use -1");
    parse_err("m 1 now", 4, "invalid timestamp");
    parse_err("m 1 0x10", 4, "invalid timestamp");
    parse_err("m 1 2023-01-01", 4, "invalid timestamp");
}

static void test_field_count(void **state)
{
    parse_err("", 0, "empty line");
    parse_err(" \t\r", 0, "empty line");
    parse_err("a.b", 3, "expected 3 fields 'metric value timestamp', got 1");
    parse_err("a.b 1", 5, "expected 3 fields 'metric value timestamp', got 2");
    parse_err("a.b 1 2 3", 8, "expected 3 fields 'metric value timestamp', got 4");
    parse_err("a b c d e f", 6, "expected 3 fields 'metric value timestamp', got 6");
    parse_err("a.b 1 2 \r x", 10, "expected 3 fields 'metric value timestamp', got 4");
    /* a NUL is not whitespace: it stays inside the field */
    GraphiteLine g;
    TsError err;
    assert_int_equal(graphite_line_parse(slice_make("m 1\0 2", 6), NOW_NS, &g, &err), TS_ERR_PROTO);
    assert_string_equal(err.msg, "invalid value");
    /* the line need not be NUL-terminated */
    const char buf[] = {'m', ' ', '4', ' ', '5', '9'};
    assert_int_equal(graphite_line_parse(slice_make(buf, 5), NOW_NS, &g, &err), TS_OK);
    assert_int_equal(g.ts_ns, 5 * SEC);
}

/* --- names --- */

static void key_ok(const char *name, const char *want)
{
    Buf b;
    TsError err;
    buf_init(&b);
    buf_puts(&b, "#");
    int rc = graphite_name_to_key(slice_cstr(name), 32, BIG, &b, &err);
    if (rc != TS_OK)
        fail_msg("name [%s] rejected: %s", name, err.msg);
    if (b.n != strlen(want) + 1 || memcmp(b.p + 1, want, b.n - 1) != 0)
        fail_msg("name [%s] -> [%.*s], want [%s]", name, (int)b.n - 1, b.p + 1, want);
    buf_deinit(&b);
}

static void key_err_n(const char *name, size_t n, size_t max_tags, size_t max_bytes, int want_rc,
                      const char *want_msg)
{
    Buf b;
    TsError err;
    buf_init(&b);
    buf_puts(&b, "#");
    memset(&err, 0, sizeof(err));
    int rc = graphite_name_to_key(slice_make(name, n), max_tags, max_bytes, &b, &err);
    if (rc != want_rc)
        fail_msg("name [%s] gave %d, want %d (%s)", name, rc, want_rc, err.msg);
    assert_string_equal(err.msg, want_msg);
    assert_int_equal(b.n, 1); /* nothing appended */
    buf_deinit(&b);
}

static void key_err(const char *name, const char *want_msg)
{
    key_err_n(name, strlen(name), 32, BIG, TS_ERR_PROTO, want_msg);
}

static void test_untagged(void **state)
{
    key_ok("a.b.c", "a.b.c");
    key_ok("foo..bar", "foo..bar");
    key_ok(".foo", ".foo");
    key_ok("~a.b", "~a.b"); /* untagged names are kept exactly as given */
    key_ok("a=b", "a=b");
    key_ok("m{}", "m{}");             /* not OpenMetrics: does not end with "} */
    key_ok("m{a=\"b\"", "m{a=\"b\""); /* no closing brace */
    key_ok("caf\xc3\xa9.\xff", "caf\xc3\xa9.\xff");
    key_ok("a\\", "a\\");
    key_ok("x/y:z#1", "x/y:z#1");
    key_err("", "Cannot parse path , no metric found");
    key_err_n("a b", 3, 32, BIG, TS_ERR_PROTO, "Character 0x20 is not allowed in path a b");
    key_err_n("a\tb", 3, 32, BIG, TS_ERR_PROTO, "Character 0x09 is not allowed in path a\tb");
    key_err_n("a\0b", 3, 32, BIG, TS_ERR_PROTO, "Character 0x00 is not allowed in path a");
    key_err_n("a.b.c", 5, 32, 4, TS_ERR_LIMIT, "series key too long: 5 bytes (max 4)");
    key_ok("abcd", "abcd");
}

static void test_tagged(void **state)
{
    key_ok("cpu;host=a;dc=x", "cpu dc=x host=a");
    key_ok("cpu;host=a", "cpu host=a");
    key_ok("cpu;ab=1;a=2", "cpu a=2 ab=1");
    key_ok("cpu;host=a=b", "cpu host=a=b");
    key_ok("cpu;host=a;host=b", "cpu host=b"); /* the later wins */
    key_ok("cpu;host=b;dc=x;host=a", "cpu dc=x host=a");
    key_ok("cpu;name=other;host=a", "cpu host=a"); /* name is the metric */
    key_ok("cpu;name=other", "cpu");
    key_ok("~~cpu;a=b", "cpu a=b"); /* leading ~ stripped from name */
    key_ok("c~p~u;a=b~", "c~p~u a=b~");
    key_ok("cpu;a=\"b\"}", "cpu a=\"b\"}"); /* no '{': carbon form */
    key_ok("a.b{;c=d", "a.b{ c=d");
    key_ok("m;k\\=v", "m k\\=v");
    key_ok("m;k=\xc3\xa9", "m k=\xc3\xa9");
}

static void test_tagged_errors(void **state)
{
    key_err(";a=b", "Cannot parse path ;a=b, no metric found");
    key_err(";", "Cannot parse path ;, no metric found");
    key_err("cpu;host", "Cannot parse path cpu;host, invalid segment host");
    key_err("cpu;=a", "Cannot parse path cpu;=a, invalid segment =a");
    key_err("cpu;", "Cannot parse path cpu;, invalid segment ");
    key_err("cpu;a=1;;b=2", "Cannot parse path cpu;a=1;;b=2, invalid segment ");
    key_err("cpu;host=", "Value for tag \"host\" may not be empty");
    key_err("cpu;ho!st=a", "Character \"!\" is not allowed in tag \"ho!st\"");
    key_err("cpu;h^=a", "Character \"^\" is not allowed in tag \"h^\"");
    key_err("cpu;a^b!c=1", "Character \"!\" is not allowed in tag \"a^b!c\""); /* ;!^= order */
    key_err("cpu;host=~a", "Tag values are not allowed to start with \"~\" in tag \"host\"");
    key_err("cpu;host=a;dc=", "Value for tag \"dc\" may not be empty");
    key_err("~~~;a=b", "Cannot use metric name ~~~ as tag value, results in an empty string");
    key_err("~;a=", "Value for tag \"a\" may not be empty"); /* segments are checked first */
    key_err("cpu;name=~x", "Tag values are not allowed to start with \"~\" in tag \"name\"");
    /* our own: the key could not be split again */
    key_err("cpu;a=x\\;b=y", "tag value ends with '\\'");
    key_err("cpu\\;a=b", "metric name of a tagged series ends with '\\'");
    key_err_n("cpu;a=b c", 9, 32, BIG, TS_ERR_PROTO,
              "Character 0x20 is not allowed in path cpu;a=b c");
}

static void test_openmetrics(void **state)
{
    key_ok("cpu{host=\"a\",dc=\"x\"}", "cpu dc=x host=a");
    key_ok("cpu{host=\"a\"}", "cpu host=a");
    key_ok("cpu{host=\"a\",}", "cpu{host=\"a\",}"); /* ends with ,} so untagged, as in carbon */
    key_ok("cpu{host=\"a\":,dc=\"x\"}", "cpu dc=x host=a"); /* carbon's "(:?,|$)" */
    key_ok("cpu{host=\"a\\\"b\"}", "cpu host=a\"b");
    key_ok("cpu{host=\"a\\\\b\"}", "cpu host=a\\b");
    key_ok("cpu{host=\"x=y,z\"}", "cpu host=x=y,z");
    key_ok("cpu{host=\"a\",host=\"b\"}", "cpu host=b");
    key_ok("cpu{name=\"x\",b=\"1\"}", "cpu b=1");
    key_ok("~cpu{a=\"b\"}", "cpu a=b");
    key_ok("cpu{a\"=\"b\"}", "cpu a\"=b");

    key_err("{a=\"b\"}", "Cannot parse path {a=\"b\"}, no metric found");
    key_err("cpu{host=\"\"}", "Cannot parse path cpu{host=\"\"}, invalid segment host=\"\"");
    key_err("cpu{host=\"a\"x\"}",
            "Cannot parse path cpu{host=\"a\"x\"}, invalid segment host=\"a\"x\"");
    key_err("cpu{=\"a\"}", "Cannot parse path cpu{=\"a\"}, invalid segment =\"a\"");
    key_err("cpu{host\"}", "Cannot parse path cpu{host\"}, invalid segment host\"");
    key_err("cpu{a=b\"}", "Cannot parse path cpu{a=b\"}, invalid segment a=b\"");
    key_err("cpu{a=\"x\\y\"}", "Cannot parse path cpu{a=\"x\\y\"}, invalid segment a=\"x\\y\"");
    key_ok("cpu{a=\"b\",,c=\"d\"}", "cpu ,c=d a=b"); /* [^=]+ takes the second ',' */
    key_err("cpu{a;b=\"c\"}", "Character \";\" is not allowed in tag \"a;b\"");
    key_err("cpu{a=\"b;c\"}", "Character \";\" is not allowed in value \"b;c\" of tag a");
    key_err("cpu{a=\"~b\"}", "Tag values are not allowed to start with \"~\" in tag \"a\"");
    key_err("~{a=\"b\"}", "Cannot use metric name ~ as tag value, results in an empty string");
    key_err("a{b{c=\"d\"}", "Cannot parse path a{b{c=\"d\"}, more than one \"{\"");
    key_err("a;b{c=\"d\"}",
            "Character \";\" is not allowed in metric \"a;b\" of path a;b{c=\"d\"}");
    /* OpenMetrics form is chosen first, so a carbon-form path ending in "} fails as carbon does */
    key_err("cpu;a=b{x\"}", "Cannot parse path cpu;a=b{x\"}, invalid segment x\"");
    key_err("cpu{a=\"x\\\\\",b=\"1\"}", "tag value ends with '\\'");
}

static void test_limits(void **state)
{
    const char *om = "m{a=\"1\",b=\"2\",c=\"3\"}";
    key_err_n("m;a=1;b=2;c=3", 13, 2, BIG, TS_ERR_LIMIT, "too many tags (max 2)");
    key_err_n(om, strlen(om), 2, BIG, TS_ERR_LIMIT, "too many tags (max 2)");
    key_err_n("m;a=1;b=2", 9, 2, 8, TS_ERR_LIMIT, "series key too long: 9 bytes (max 8)");

    Buf b;
    buf_init(&b);
    /* duplicates and 'name' do not count */
    assert_int_equal(graphite_name_to_key(slice_cstr("m;a=1;b=2;a=3;name=x"), 2, 9, &b, NULL),
                     TS_OK);
    assert_int_equal(b.n, 9);
    assert_memory_equal(b.p, "m a=3 b=2", 9);
    buf_clear(&b);
    assert_int_equal(graphite_name_to_key(slice_cstr("m;a=1"), 0, BIG, &b, NULL), TS_ERR_LIMIT);
    assert_int_equal(graphite_name_to_key(slice_cstr("m;name=1"), 0, BIG, &b, NULL), TS_OK);
    assert_int_equal(b.n, 1);
    buf_deinit(&b);
}

/* The key maps back to Graphite's canonical path. */
static void test_graphite_display(void **state)
{
    static const char *cases[][2] = {
        {"cpu;host=a;dc=x", "cpu;dc=x;host=a"},
        {"m;a=2;a-b=1", "m;a-b=1;a=2"},
        {"cpu{host=\"a\",dc=\"x\"}", "cpu;dc=x;host=a"},
        {"a.b.c", "a.b.c"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Buf k;
        Buf g;
        buf_init(&k);
        buf_init(&g);
        assert_int_equal(graphite_name_to_key(slice_cstr(cases[i][0]), 32, BIG, &k, NULL), TS_OK);
        series_key_to_graphite(slice_make(k.p, k.n), &g);
        assert_int_equal(g.n, strlen(cases[i][1]));
        assert_memory_equal(g.p, cases[i][1], g.n);
        buf_deinit(&k);
        buf_deinit(&g);
    }
}

/* The short-decimal fast path must give exactly strtod's double for every form it takes. */
static void test_decimal_fast_path_matches_strtod(void **state)
{
    uint64_t x = 88172645463325252ULL;
    char line[128], num[64];
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int digits = 1 + (int)(x % 15);
        int frac = (int)((x >> 8) % (unsigned)(digits + 1));
        uint64_t m = (x >> 16) % 1000000000000000ULL;
        char d[32];
        snprintf(d, sizeof(d), "%0*llu", digits, (unsigned long long)(m % (uint64_t)pow(10, digits)));
        const char *sign = (x >> 60) % 3 == 0 ? "-" : (x >> 60) % 3 == 1 ? "+" : "";
        if (frac == 0)
            snprintf(num, sizeof(num), "%s%s", sign, d);
        else
            snprintf(num, sizeof(num), "%s%.*s.%s", sign, digits - frac, d, d + digits - frac);
        snprintf(line, sizeof(line), "m %s 1700000000", num);
        GraphiteLine gl;
        TsError err = {0};
        assert_int_equal(graphite_line_parse(slice_cstr(line), 0, &gl, &err), TS_OK);
        double want = strtod(num, NULL);
        assert_memory_equal(&gl.value, &want, sizeof(double));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_decimal_fast_path_matches_strtod),
        cmocka_unit_test(test_whitespace_variants),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_nan_values),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_field_count),
        cmocka_unit_test(test_untagged),
        cmocka_unit_test(test_tagged),
        cmocka_unit_test(test_tagged_errors),
        cmocka_unit_test(test_openmetrics),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_graphite_display),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
