/*
 * Tests of the Akumuli JSON query front end (src/query/akumuli.c) against an in-memory fake
 * QuerySource. Expected bodies are byte-exact Akumuli 0.8.80 output (reference/akumuli.md §11,
 * §12) or the documented cairn texts (docs/query-akumuli.md).
 *
 * Data set (reference §11): series "temp dc=x host=a" (id 1024), "temp dc=x host=b" (1025) and
 * "hum dc=x host=a" (1026), one point per second from 20170714T024000 (1500000000 s), values
 * 0.5 ... 9.5 for temp and 0 ... 9 for hum.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "query/akumuli.h"

#define T0 INT64_C(1500000000000000000)
#define SEC INT64_C(1000000000)
#define FAKE_MAX 12

typedef struct FakeSeries {
    uint64_t id;
    const char *key;
    PointVec points;
    EventVec events;
} FakeSeries;

typedef struct Fake {
    FakeSeries s[FAKE_MAX];
    size_t n;
    size_t max_points;  /* 0 = no cap; else TS_ERR_LIMIT past this many points read */
    size_t read_points; /* points read so far */
    uint64_t fail_id;   /* read of this id fails with fail_rc (0 = never) */
    uint64_t nokey_id;  /* key() of this id fails (0 = never) */
    int fail_rc;
    size_t reads; /* read calls */
} Fake;

/* Does the key "metric k=v k=v" carry tag 'key' with one of the values (any if none)? */
static int key_has_tag(const char *skey, const QueryTagFilter *f)
{
    const char *p = strchr(skey, ' ');
    while (p) {
        p++;
        const char *end = strchr(p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (eq && (size_t)(eq - p) == f->key.n && memcmp(p, f->key.p, f->key.n) == 0) {
            Slice v = slice_make(eq + 1, len - (size_t)(eq - p) - 1);
            if (f->n_values == 0)
                return 1;
            for (size_t i = 0; i < f->n_values; i++)
                if (slice_eq(v, f->values[i]))
                    return 1;
        }
        p = end;
    }
    return 0;
}

static int fake_find(void *ctx, Slice metric, const QueryTagFilter *f, size_t nf, uint64_t **ids,
                     size_t *n)
{
    Fake *fk = ctx;
    *ids = ts_malloc((fk->n + 1) * sizeof **ids);
    *n = 0;
    for (size_t i = 0; i < fk->n; i++) {
        const char *k = fk->s[i].key;
        size_t mlen = strcspn(k, " ");
        if (metric.n && !slice_eq(metric, slice_make(k, mlen)))
            continue;
        size_t j = 0;
        while (j < nf && key_has_tag(k, &f[j]))
            j++;
        if (j == nf)
            (*ids)[(*n)++] = fk->s[i].id;
    }
    return TS_OK;
}

static int fake_key(void *ctx, uint64_t id, Slice *key)
{
    Fake *fk = ctx;
    if (fk->nokey_id && id == fk->nokey_id)
        return TS_ERR_NOTFOUND;
    for (size_t i = 0; i < fk->n; i++) {
        if (fk->s[i].id == id) {
            *key = slice_cstr(fk->s[i].key);
            return TS_OK;
        }
    }
    return TS_ERR_NOTFOUND;
}

static int fake_read(void *ctx, uint64_t id, int64_t from_ns, int64_t to_ns, PointVec *out)
{
    Fake *fk = ctx;
    fk->reads++;
    if (fk->fail_id && id == fk->fail_id)
        return fk->fail_rc;
    for (size_t i = 0; i < fk->n; i++) {
        if (fk->s[i].id != id)
            continue;
        const PointVec *pv = &fk->s[i].points;
        for (size_t j = 0; j < pv->n; j++) {
            if (pv->ts_ns[j] < from_ns || pv->ts_ns[j] >= to_ns)
                continue;
            if (fk->max_points && ++fk->read_points > fk->max_points)
                return TS_ERR_LIMIT;
            point_vec_push(out, pv->ts_ns[j], pv->values[j]);
        }
        return TS_OK;
    }
    return TS_ERR_NOTFOUND;
}

static int fake_read_events(void *ctx, uint64_t id, int64_t from_ns, int64_t to_ns,
                            EventVec *out)
{
    Fake *fk = ctx;
    fk->reads++;
    if (fk->fail_id && id == fk->fail_id)
        return fk->fail_rc;
    for (size_t i = 0; i < fk->n; i++) {
        if (fk->s[i].id != id)
            continue;
        const EventVec *ev = &fk->s[i].events;
        for (size_t j = 0; j < ev->n; j++) {
            if (ev->ts_ns[j] < from_ns || ev->ts_ns[j] >= to_ns)
                continue;
            if (fk->max_points && ++fk->read_points > fk->max_points)
                return TS_ERR_LIMIT;
            event_vec_push(out, ev->ts_ns[j], event_vec_text(ev, j));
        }
        return TS_OK;
    }
    return TS_ERR_NOTFOUND;
}

static FakeSeries *fake_add(Fake *fk, uint64_t id, const char *key)
{
    assert_true(fk->n < FAKE_MAX);
    FakeSeries *s = &fk->s[fk->n++];
    s->id = id;
    s->key = key;
    point_vec_init(&s->points);
    event_vec_init(&s->events);
    return s;
}

static Fake g_fake;
static QuerySource g_src;

static int setup(void **state)
{
    memset(&g_fake, 0, sizeof g_fake);
    FakeSeries *a = fake_add(&g_fake, 1024, "temp dc=x host=a");
    FakeSeries *b = fake_add(&g_fake, 1025, "temp dc=x host=b");
    FakeSeries *h = fake_add(&g_fake, 1026, "hum dc=x host=a");
    for (int i = 0; i < 10; i++) {
        point_vec_push(&a->points, T0 + i * SEC, i + 0.5);
        point_vec_push(&b->points, T0 + i * SEC, i + 0.5);
        point_vec_push(&h->points, T0 + i * SEC, i);
    }
    g_src.ctx = &g_fake;
    g_src.find = fake_find;
    g_src.key = fake_key;
    g_src.read = fake_read;
    g_src.read_events = fake_read_events;
    return 0;
}

static int teardown(void **state)
{
    for (size_t i = 0; i < g_fake.n; i++) {
        point_vec_deinit(&g_fake.s[i].points);
        event_vec_deinit(&g_fake.s[i].events);
    }
    return 0;
}

/* Run 'body' (len bytes) and compare status, return code and the exact response body. */
static void check_n(const char *body, size_t len, int want_status, int want_rc, const char *want)
{
    Buf out;
    int status = -1;
    buf_init(&out);
    int rc = akumuli_query_run(&g_src, slice_make(body, len), &out, &status);
    buf_put_u8(&out, 0);
    if (strcmp((const char *)out.p, want) != 0)
        print_error("query: %s\n", body);
    assert_string_equal((const char *)out.p, want);
    assert_int_equal(status, want_status);
    assert_int_equal(rc, want_rc);
    buf_deinit(&out);
}

static void check(const char *body, int want_status, int want_rc, const char *want)
{
    check_n(body, strlen(body), want_status, want_rc, want);
}

#define RANGE "\"range\":{\"from\":\"20170714T024000\",\"to\":\"20170714T024100\"}"
#define ROW(name, ts, v) "+" name "\r\n+20170714T0240" ts ".000000000\r\n+" v "\r\n"
#define A "temp dc=x host=a"
#define B "temp dc=x host=b"

/* ---------------------------------------------------------------- reference §11 examples */

static void test_select_limit_example(void **state)
{
    check("{\"select\":\"temp\"," RANGE ",\"limit\":3}", 200, TS_OK,
          ROW(A, "00", "0.5") ROW(B, "00", "0.5") ROW(A, "01", "1.5"));
}

static void test_filter_csv_raw_example(void **state)
{
    check("{\"select\":\"temp\"," RANGE ",\"filter\":{\"gt\":7},"
          "\"output\":{\"format\":\"csv\",\"timestamp\":\"raw\"}}",
          200, TS_OK,
          A ",ts=1500000007000000000,7.5\n" B ",ts=1500000007000000000,7.5\n" A
            ",ts=1500000008000000000,8.5\n" B ",ts=1500000008000000000,8.5\n" A
            ",ts=1500000009000000000,9.5\n" B ",ts=1500000009000000000,9.5\n");
}

/* select-events: rows carry the text; order-by time merges series; backward ranges; the regex
 * filter; offset/limit; the name and filter errors. */
static void test_select_events(void **state)
{
    FakeSeries *e1 = fake_add(&g_fake, 1030, "!foo A=1 B=1");
    FakeSeries *e2 = fake_add(&g_fake, 1031, "!foo A=2 B=2");
    for (int i = 0; i < 3; i++) {
        char t[64];
        snprintf(t, sizeof t, "%d event !foo A=1 B=1 for %d generated", i, i);
        event_vec_push(&e1->events, T0 + i * SEC, slice_cstr(t));
        snprintf(t, sizeof t, "%d event !foo A=2 B=2", i);
        event_vec_push(&e2->events, T0 + i * SEC, slice_cstr(t));
    }
    check("{\"select-events\":\"!foo\"," RANGE ",\"output\":{\"format\":\"csv\"}}", 200, TS_OK,
          "!foo A=1 B=1,20170714T024000.000000000,0 event !foo A=1 B=1 for 0 generated\n"
          "!foo A=2 B=2,20170714T024000.000000000,0 event !foo A=2 B=2\n"
          "!foo A=1 B=1,20170714T024001.000000000,1 event !foo A=1 B=1 for 1 generated\n"
          "!foo A=2 B=2,20170714T024001.000000000,1 event !foo A=2 B=2\n"
          "!foo A=1 B=1,20170714T024002.000000000,2 event !foo A=1 B=1 for 2 generated\n"
          "!foo A=2 B=2,20170714T024002.000000000,2 event !foo A=2 B=2\n");
    check("{\"select-events\":\"!foo\",\"where\":{\"A\":\"2\"},"
          "\"range\":{\"from\":\"20170714T024001\",\"to\":\"20170714T023000\"}}",
          200, TS_OK,
          "+!foo A=2 B=2\r\n+20170714T024001.000000000\r\n+1 event !foo A=2 B=2\r\n"
          "+!foo A=2 B=2\r\n+20170714T024000.000000000\r\n+0 event !foo A=2 B=2\r\n");
    check("{\"select-events\":\"!foo\"," RANGE ",\"filter\":\"^[12] .*generated$\","
          "\"output\":{\"format\":\"csv\",\"timestamp\":\"raw\"}}",
          200, TS_OK,
          "!foo A=1 B=1,ts=1500000001000000000,1 event !foo A=1 B=1 for 1 generated\n"
          "!foo A=1 B=1,ts=1500000002000000000,2 event !foo A=1 B=1 for 2 generated\n");
    check("{\"select-events\":\"!foo\"," RANGE ",\"order-by\":\"series\",\"offset\":2,"
          "\"limit\":2,\"output\":{\"format\":\"csv\"}}",
          200, TS_OK,
          "!foo A=1 B=1,20170714T024002.000000000,2 event !foo A=1 B=1 for 2 generated\n"
          "!foo A=2 B=2,20170714T024000.000000000,0 event !foo A=2 B=2\n");
    check("{\"select-events\":\"foo\"," RANGE "}", 200, TS_ERR_PROTO,
          "-Event name should start with '!' symbol\r\n");
    check("{\"select-events\":\"!bar\"," RANGE "}", 200, TS_ERR_NOTFOUND, "-not found\r\n");
    check("{\"select-events\":\"!foo\"}", 200, TS_ERR_PROTO, "-Range field is not set\r\n");
    check("{\"select-events\":\"!foo\"," RANGE ",\"filter\":\"(\"}", 200, TS_ERR_PROTO,
          "-Invalid regular expression in `filter` field: Unmatched ( or \\(\r\n");
    check("{\"select\":\"!foo\"," RANGE "}", 200, TS_ERR_PROTO,
          "-Metric name can't be empty or start with '!' symbol\r\n");
    /* Patterns whose compiled form would explode (nested copies, back-references) are refused
     * before regcomp sees them; ordinary repetitions are fine. */
    const char *complex[] = {"event +++++++++++++++++++++++++++++++[1-3]+", "((a{100}){100}){100}",
                             "(a)\\\\1", "(((((((((((((((((((((((((((((((((a)))))))))))))))))))))))))))))))))"};
    for (size_t i = 0; i < sizeof complex / sizeof complex[0]; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"select-events\":\"!foo\"," RANGE ",\"filter\":\"%s\"}",
                 complex[i]);
        check(body, 200, TS_ERR_PROTO,
              "-Regular expression in `filter` field is too complex\r\n");
    }
    check("{\"select-events\":\"!foo\"," RANGE ",\"filter\":\"^(2 ev|x{2,3}|[[:digit:]]+ ev)ent+ "
          "!foo A=2\",\"output\":{\"format\":\"csv\"}}",
          200, TS_OK, "!foo A=2 B=2,20170714T024000.000000000,0 event !foo A=2 B=2\n"
          "!foo A=2 B=2,20170714T024001.000000000,1 event !foo A=2 B=2\n"
          "!foo A=2 B=2,20170714T024002.000000000,2 event !foo A=2 B=2\n");
    /* Events with empty texts only. */
    FakeSeries *e3 = fake_add(&g_fake, 1032, "!empty k=v");
    event_vec_push(&e3->events, T0, slice_make("", 0));
    check("{\"select-events\":\"!empty\"," RANGE ",\"output\":{\"format\":\"csv\"}}", 200, TS_OK,
          "!empty k=v,20170714T024000.000000000,\n");
}

static void test_filter_bounds(void **state)
{
    /* ge/le inclusive, gt/lt strict; form 1 keyed by the metric. */
    check("{\"select\":\"temp\"," RANGE ",\"where\":{\"host\":\"a\"},"
          "\"filter\":{\"ge\":2.5,\"le\":3.5},\"output\":{\"format\":\"csv\"}}",
          200, TS_OK, A ",20170714T024002.000000000,2.5\n" A ",20170714T024003.000000000,3.5\n");
    /* A dotted metric is a property-tree path in form 1, as in Akumuli. */
    FakeSeries *s = fake_add(&g_fake, 1027, "cpu.user k=v");
    point_vec_push(&s->points, T0, 1);
    point_vec_push(&s->points, T0 + SEC, 2);
    check("{\"select\":\"cpu.user\"," RANGE ",\"filter\":{\"cpu\":{\"user\":{\"gt\":1}}}}", 200,
          TS_OK, ROW("cpu.user k=v", "01", "2"));
    check("{\"select\":\"cpu.user\"," RANGE ",\"filter\":{\"cpu.user\":{\"gt\":1}}}", 200, TS_OK,
          ROW("cpu.user k=v", "00", "1") ROW("cpu.user k=v", "01", "2"));
}

static void test_filter_strict(void **state)
{
    check("{\"select\":\"temp\"," RANGE ",\"where\":{\"host\":\"a\"},"
          "\"filter\":{\"temp\":{\"gt\":2.5,\"lt\":4.5}},\"output\":{\"format\":\"csv\"}}",
          200, TS_OK, A ",20170714T024003.000000000,3.5\n");
    /* Nothing passes: empty body, not an error. */
    check("{\"select\":\"temp\"," RANGE ",\"filter\":{\"gt\":-2000,\"lt\":-1000}}", 200, TS_OK, "");
    /* Numeric strings are numbers to boost::lexical_cast. */
    check("{\"select\":\"temp\"," RANGE ",\"where\":{\"host\":\"b\"},\"filter\":{\"ge\":\"9\"}}",
          200, TS_OK, ROW(B, "09", "9.5"));
}

static void test_filter_errors(void **state)
{
    check("{\"select\":\"temp\"," RANGE ",\"filter\":{\"gt\":\"abc\"}}", 200, TS_ERR_PROTO,
          "-Query object filter field: temp has bad value, can't parse floating point\r\n");
    check("{\"select\":\"temp\"," RANGE ",\"filter\":{\"lt\":null}}", 200, TS_ERR_PROTO,
          "-Query object filter field: temp has bad value, can't parse floating point\r\n");
    /* A filter keyed by another name is silently ignored (TSBS sends one). */
    check("{\"select\":\"temp\"," RANGE ",\"where\":{\"host\":\"a\"},\"limit\":1,"
          "\"filter\":{\"cpu\":{\"gt\":100}}}",
          200, TS_OK, ROW(A, "00", "0.5"));
}

/* ---------------------------------------------------------------- directions and order */

static void test_forward_all_rows_time_order(void **state)
{
    Buf out;
    int status;
    const char *q = "{\"select\":\"temp\"," RANGE ",\"output\":{\"format\":\"csv\"}}";
    buf_init(&out);
    assert_int_equal(akumuli_query_run(&g_src, slice_cstr(q), &out, &status), TS_OK);
    buf_put_u8(&out, 0);
    char expect[4096] = "";
    for (int i = 0; i < 10; i++) {
        char line[256];
        snprintf(line, sizeof line,
                 A ",20170714T02400%d.000000000,%d.5\n" B ",20170714T02400%d.000000000,%d.5\n", i,
                 i, i, i);
        strcat(expect, line);
    }
    assert_string_equal((const char *)out.p, expect);
    buf_deinit(&out);
}

static void test_backward_time_order(void **state)
{
    /* from > to: (to, from] newest first, ties in descending series id. */
    check(
        "{\"select\":\"temp\",\"range\":{\"from\":\"20170714T024100\",\"to\":\"20170714T024000\"},"
        "\"limit\":4}",
        200, TS_OK,
        ROW(B, "09", "9.5") ROW(A, "09", "9.5") ROW(B, "08", "8.5") ROW(A, "08", "8.5"));
    /* to is exclusive, from inclusive. */
    check(
        "{\"select\":\"temp\",\"range\":{\"from\":\"20170714T024002\",\"to\":\"20170714T024000\"}}",
        200, TS_OK,
        ROW(B, "02", "2.5") ROW(A, "02", "2.5") ROW(B, "01", "1.5") ROW(A, "01", "1.5"));
}

static void test_grafana_descending_fraction(void **state)
{
    check("{\"select\":\"temp\",\"range\":{\"from\":\"20170714T024005.500\","
          "\"to\":\"20170714T024003.500\"},\"order-by\":\"series\"}",
          200, TS_OK,
          ROW(A, "05", "5.5") ROW(A, "04", "4.5") ROW(B, "05", "5.5") ROW(B, "04", "4.5"));
    check("{\"select\":\"temp\",\"range\":{\"from\":\"20170714T024003.500\","
          "\"to\":\"20170714T024005.500\"},\"order-by\":\"time\"}",
          200, TS_OK,
          ROW(A, "04", "4.5") ROW(B, "04", "4.5") ROW(A, "05", "5.5") ROW(B, "05", "5.5"));
}

static void test_order_by_series(void **state)
{
    check(
        "{\"select\":\"temp\",\"range\":{\"from\":\"20170714T024000\",\"to\":\"20170714T024002\"},"
        "\"order-by\":\"series\"}",
        200, TS_OK,
        ROW(A, "00", "0.5") ROW(A, "01", "1.5") ROW(B, "00", "0.5") ROW(B, "01", "1.5"));
    check(
        "{\"select\":\"temp\",\"range\":{\"from\":\"20170714T024009\",\"to\":\"20170714T024007\"},"
        "\"order-by\":\"series\"}",
        200, TS_OK,
        ROW(A, "09", "9.5") ROW(A, "08", "8.5") ROW(B, "09", "9.5") ROW(B, "08", "8.5"));
}

static void test_order_by_series_stops_reading_at_limit(void **state)
{
    g_fake.reads = 0;
    check("{\"select\":\"temp\"," RANGE ",\"order-by\":\"series\",\"limit\":2}", 200, TS_OK,
          ROW(A, "00", "0.5") ROW(A, "01", "1.5"));
    assert_int_equal(g_fake.reads, 1);
}

/* ---------------------------------------------------------------- limit / offset */

static void test_limit_offset(void **state)
{
    check("{\"select\":\"temp\"," RANGE ",\"offset\":1,\"limit\":2}", 200, TS_OK,
          ROW(B, "00", "0.5") ROW(A, "01", "1.5"));
    check("{\"select\":\"temp\"," RANGE ",\"offset\":\"18\"}", 200, TS_OK,
          ROW(A, "09", "9.5") ROW(B, "09", "9.5"));
    check("{\"select\":\"temp\"," RANGE ",\"offset\":20,\"limit\":5}", 200, TS_OK, "");
    check("{\"select\":\"temp\"," RANGE ",\"offset\":19,\"limit\":5}", 200, TS_OK,
          ROW(B, "09", "9.5"));
    /* limit 0 means no limit, as in Akumuli. */
    check("{\"select\":\"temp\"," RANGE ",\"offset\":18,\"limit\":0}", 200, TS_OK,
          ROW(A, "09", "9.5") ROW(B, "09", "9.5"));
    /* Offset counts rows after the value filter. */
    check("{\"select\":\"temp\"," RANGE ",\"filter\":{\"gt\":8},\"offset\":2,\"limit\":1}", 200,
          TS_OK, ROW(A, "09", "9.5"));
    /* Grafana: limit with an empty apply list. */
    check("{\"select\":\"temp\"," RANGE ",\"apply\":[],\"limit\":1}", 200, TS_OK,
          ROW(A, "00", "0.5"));
}

static void test_limit_offset_errors(void **state)
{
    const char *lim = "-Query object has invalid `limit` field, a non-negative integer is "
                      "expected\r\n";
    const char *off = "-Query object has invalid `offset` field, a non-negative integer is "
                      "expected\r\n";
    check("{\"select\":\"temp\"," RANGE ",\"limit\":-1}", 200, TS_ERR_PROTO, lim);
    check("{\"select\":\"temp\"," RANGE ",\"limit\":1.5}", 200, TS_ERR_PROTO, lim);
    check("{\"select\":\"temp\"," RANGE ",\"limit\":\"ten\"}", 200, TS_ERR_PROTO, lim);
    check("{\"select\":\"temp\"," RANGE ",\"offset\":[1]}", 200, TS_ERR_PROTO, off);
    check("{\"select\":\"temp\"," RANGE ",\"offset\":\"-2\"}", 200, TS_ERR_PROTO, off);
}

/* ---------------------------------------------------------------- where */

static void test_where_object_forms(void **state)
{
    check("{\"select\":\"temp\"," RANGE ",\"where\":{\"host\":\"b\"},\"limit\":2}", 200, TS_OK,
          ROW(B, "00", "0.5") ROW(B, "01", "1.5"));
    check("{\"select\":\"temp\"," RANGE ",\"where\":{\"host\":[\"zz\",\"b\"]},\"limit\":1}", 200,
          TS_OK, ROW(B, "00", "0.5"));
    check("{\"select\":\"temp\"," RANGE ",\"where\":{\"host\":[\"a\",\"b\"],\"dc\":\"x\"},"
          "\"limit\":2}",
          200, TS_OK, ROW(A, "00", "0.5") ROW(B, "00", "0.5"));
    check("{\"select\":\"temp\"," RANGE ",\"where\":{},\"limit\":2}", 200, TS_OK,
          ROW(A, "00", "0.5") ROW(B, "00", "0.5"));
    check("{\"select\":\"temp\"," RANGE ",\"where\":{\"host\":\"c\"}}", 200, TS_ERR_NOTFOUND,
          "-not found\r\n");
    check("{\"select\":\"temp\"," RANGE ",\"where\":{\"host\":\"a\",\"dc\":\"y\"}}", 200,
          TS_ERR_NOTFOUND, "-not found\r\n");
}

static void test_where_array_form(void **state)
{
    /* Exact tag sets, in any key order; union. */
    check("{\"select\":\"temp\"," RANGE ",\"where\":[{\"host\":\"b\",\"dc\":\"x\"}],\"limit\":1}",
          200, TS_OK, ROW(B, "00", "0.5"));
    check("{\"select\":\"temp\"," RANGE ",\"where\":[{\"host\":\"b\",\"dc\":\"x\"},"
          "{\"dc\":\"x\",\"host\":\"a\"},{\"host\":\"q\",\"dc\":\"x\"}],\"limit\":2}",
          200, TS_OK, ROW(A, "00", "0.5") ROW(B, "00", "0.5"));
    /* A subset of the tags is not the series: nothing matches. */
    check("{\"select\":\"temp\"," RANGE ",\"where\":[{\"host\":\"a\"}]}", 200, TS_ERR_NOTFOUND,
          "-not found\r\n");
    /* As in Akumuli, an exact-name miss is reported before the range is looked at. */
    check("{\"select\":\"temp\",\"where\":[{\"host\":\"zz\",\"dc\":\"x\"}]}", 200, TS_ERR_NOTFOUND,
          "-not found\r\n");
}

/* ---------------------------------------------------------------- timestamps and values */

static void test_integer_ranges(void **state)
{
    check("{\"select\":\"temp\",\"range\":{\"from\":1500000003000000000,\"to\":"
          "\"1500000004000000000\"},\"where\":{\"host\":\"a\"},\"output\":{\"timestamp\":\"raw\"}}",
          200, TS_OK, "+" A "\r\n+ts=1500000003000000000\r\n+3.5\r\n");
}

static void test_value_formats(void **state)
{
    FakeSeries *s = fake_add(&g_fake, 1027, "vals k=v");
    point_vec_push(&s->points, T0, 10);
    point_vec_push(&s->points, T0 + 1, 50.6);
    point_vec_push(&s->points, T0 + 2, 1.0 / 0.0);
    point_vec_push(&s->points, T0 + 3, 1.0 / 3 * 1e-9);
    point_vec_push(&s->points, T0 + 4, -0.25);
    check("{\"select\":\"vals\"," RANGE ",\"output\":{\"format\":\"CSV\"}}", 200, TS_OK,
          "vals k=v,20170714T024000.000000000,10\n"
          "vals k=v,20170714T024000.000000001,50.600000000000001\n"
          "vals k=v,20170714T024000.000000002,inf\n"
          "vals k=v,20170714T024000.000000003,3.3333333333333332e-10\n"
          "vals k=v,20170714T024000.000000004,-0.25\n");
    check("{\"select\":\"vals\"," RANGE ",\"limit\":2,\"output\":{\"format\":\"Resp\","
          "\"timestamp\":\"ISO\"}}",
          200, TS_OK,
          "+vals k=v\r\n+20170714T024000.000000000\r\n+10\r\n"
          "+vals k=v\r\n+20170714T024000.000000001\r\n+50.600000000000001\r\n");
}

static void test_empty_range_and_no_points(void **state)
{
    check(
        "{\"select\":\"temp\",\"range\":{\"from\":\"20180101T000000\",\"to\":\"20180102T000000\"}}",
        200, TS_OK, "");
    check(
        "{\"select\":\"temp\",\"range\":{\"from\":\"20170714T024000\",\"to\":\"20170714T024000\"}}",
        200, TS_OK, "");
}

static void test_filter_form1_error_and_where_quirks(void **state)
{
    check("{\"select\":\"temp\"," RANGE ",\"filter\":{\"temp\":{\"ge\":\"x\"}}}", 200, TS_ERR_PROTO,
          "-Query object filter field: temp has bad value, can't parse floating point\r\n");
    /* Array-form entries that are no series name are ignored; with none left, Akumuli selects
       every series of the metric. */
    check("{\"select\":\"temp\"," RANGE ",\"where\":[\"x\",{}],\"limit\":2}", 200, TS_OK,
          ROW(A, "00", "0.5") ROW(B, "00", "0.5"));
    /* Scalars are texts: a number matches the tag value "1". */
    FakeSeries *s = fake_add(&g_fake, 1027, "num k=1");
    point_vec_push(&s->points, T0, 7);
    check("{\"select\":\"num\"," RANGE ",\"where\":{\"k\":1}}", 200, TS_OK,
          ROW("num k=1", "00", "7"));
    check("{\"select\":\"num\"," RANGE ",\"where\":[{\"k\":1}]}", 200, TS_OK,
          ROW("num k=1", "00", "7"));
    check("{\"select\":\"meta:names:num\",\"where\":[{\"k\":2}]}", 200, TS_ERR_NOTFOUND,
          "-not found\r\n");
}

static void test_unknown_key_prints_id(void **state)
{
    g_fake.nokey_id = 1025;
    check("{\"select\":\"temp\"," RANGE ",\"limit\":2}", 200, TS_OK,
          ROW(A, "00", "0.5") ROW("id=1025", "00", "0.5"));
    check("{\"select\":\"meta:names:temp\"}", 200, TS_OK, "+temp dc=x host=a\r\n+id=1025\r\n");
}

/* Merge order over many series against a brute-force sort of every row. */
static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

static int row_cmp(int64_t ta, size_t ia, int64_t tb, size_t ib)
{
    if (ta != tb)
        return ta < tb ? -1 : 1;
    return ia < ib ? -1 : ia > ib;
}

static void test_merge_matches_brute_force(void **state)
{
    static const char *const keys[] = {"r k=0", "r k=1", "r k=2", "r k=3", "r k=4"};
    uint32_t seed = 7;
    size_t total = 0;
    for (size_t i = 0; i < 5; i++) {
        FakeSeries *s = fake_add(&g_fake, 2000 + i, keys[i]);
        int64_t ts = T0;
        for (int j = 0; j < 60; j++) {
            ts += (int64_t)(lcg(&seed) % 3) * SEC / 2 + 1; /* small steps: many equal ts */
            ts -= ts % (SEC / 2);
            if (s->points.n && ts <= s->points.ts_ns[s->points.n - 1])
                continue;
            point_vec_push(&s->points, ts, (double)j);
            total++;
        }
    }
    for (int dir = 0; dir < 2; dir++) {
        const char *q = dir == 0 ? "{\"select\":\"r\",\"range\":{\"from\":1400000000000000000,"
                                   "\"to\":1600000000000000000},\"output\":{\"format\":\"csv\","
                                   "\"timestamp\":\"raw\"}}"
                                 : "{\"select\":\"r\",\"range\":{\"from\":1600000000000000000,"
                                   "\"to\":1400000000000000000},\"output\":{\"format\":\"csv\","
                                   "\"timestamp\":\"raw\"}}";
        Buf out;
        int status;
        buf_init(&out);
        assert_int_equal(akumuli_query_run(&g_src, slice_cstr(q), &out, &status), TS_OK);
        buf_put_u8(&out, 0);
        size_t rows = 0, prev_idx = 0;
        int64_t prev_ts = 0;
        const char *line = (const char *)out.p;
        while (*line) {
            size_t idx;
            long long ts;
            assert_int_equal(sscanf(line, "r k=%zu,ts=%lld,", &idx, &ts), 2);
            if (rows) {
                int c = row_cmp(prev_ts, prev_idx, ts, idx);
                assert_true(dir == 0 ? c < 0 : c > 0);
            }
            prev_ts = ts;
            prev_idx = idx;
            rows++;
            line = strchr(line, '\n') + 1;
        }
        assert_int_equal(rows, total);
        buf_deinit(&out);
    }
}

/* ---------------------------------------------------------------- errors */

static void test_json_errors(void **state)
{
    check("", 200, TS_ERR_PROTO, "-JSON parsing error at line 1, expected value\r\n");
    check("\n\n  ", 200, TS_ERR_PROTO, "-JSON parsing error at line 3, expected value\r\n");
    /* Other syntax errors: Akumuli's line number, jansson's text. */
    Buf out;
    int status;
    buf_init(&out);
    assert_int_equal(
        akumuli_query_run(&g_src, slice_cstr("{\n\"select\": \"temp\",\n"), &out, &status),
        TS_ERR_PROTO);
    assert_int_equal(status, 200);
    assert_true(out.n > 32 && memcmp(out.p, "-JSON parsing error at line 3, ", 31) == 0);
    assert_true(memcmp(out.p + out.n - 2, "\r\n", 2) == 0);
    assert_null(memchr(out.p, '\n', out.n - 1));
    /* Input bytes quoted by jansson never break the line. */
    buf_clear(&out);
    assert_int_equal(
        akumuli_query_run(&g_src, slice_cstr("{\"select\": \"te\r\nmp\"}"), &out, &status),
        TS_ERR_PROTO);
    assert_true(out.n > 2 && memcmp(out.p, "-JSON parsing error at line 1, ", 31) == 0);
    assert_null(memchr(out.p, '\n', out.n - 1));
    assert_null(memchr(out.p, '\r', out.n - 2));
    buf_deinit(&out);
}

static void test_nul_ends_body(void **state)
{
    static const char body[] = "{\"select\":\"temp\"," RANGE ",\"limit\":1}\0garbage";
    check_n(body, sizeof body - 1, 200, TS_OK, ROW(A, "00", "0.5"));
}

static void test_kind_errors(void **state)
{
    const char *undef = "-Query object type is undefined. One of the following fields should be "
                        "added: select, aggregate, join, group-aggregate\r\n";
    check("{}", 200, TS_ERR_PROTO, undef);
    check("{\"foo\":\"bar\"}", 200, TS_ERR_PROTO, undef);
    check("[{\"select\":\"temp\"}]", 200, TS_ERR_PROTO, undef);
    check("\"select\"", 200, TS_ERR_PROTO, undef);
    check("{\"select\":\"temp\"," RANGE ",\"bogus\":1}", 200, TS_ERR_PROTO,
          "-Query object contains unexpected field `bogus`\r\n");
    check("{\"select\":\"\"," RANGE "}", 200, TS_ERR_PROTO,
          "-Metric name can't be empty or start with '!' symbol\r\n");
    /* Kind errors come before unknown fields. */
    check("{\"bogus\":1,\"select\":\"!ev\"}", 200, TS_ERR_PROTO,
          "-Metric name can't be empty or start with '!' symbol\r\n");
    check("{\"select\":{\"a\":1}}", 200, TS_ERR_PROTO,
          "-Query object doesn't have a 'select' field\r\n");
    /* The first kind key in document order decides. */
    check("{\"aggregate\":{\"temp\":\"count\"},\"select\":\"temp\"}", 200, TS_ERR_PROTO,
          "-Query kind `aggregate` is not implemented by cairn yet\r\n");
    check("{\"range\":{},\"join\":[\"a\",\"b\"],\"select\":\"temp\"}", 200, TS_ERR_PROTO,
          "-Query kind `join` is not implemented by cairn yet\r\n");
    check("{\"group-aggregate-join\":{}}", 200, TS_ERR_PROTO,
          "-Query kind `group-aggregate-join` is not implemented by cairn yet\r\n");
    check("{\"select-events\":\"!ev\"}", 200, TS_ERR_PROTO, "-Range field is not set\r\n");
}

static void test_range_errors(void **state)
{
    check("{\"select\":\"temp\"}", 200, TS_ERR_PROTO, "-Range field is not set\r\n");
    check("{\"select\":\"temp\",\"range\":{\"from\":\"20170714T024000\"}}", 200, TS_ERR_PROTO,
          "-Range field is not set\r\n");
    check("{\"select\":\"temp\",\"range\":\"20170714T024000\"}", 200, TS_ERR_PROTO,
          "-Range field is not set\r\n");
    check("{\"select\":\"temp\",\"range\":{\"from\":\"2017-07-14\",\"to\":\"20170714T024100\"}}",
          200, TS_ERR_PROTO,
          "-Range field error: can't parse 2017-07-14 as begin timestamp, unknown timestamp "
          "format\r\n");
    check(
        "{\"select\":\"temp\",\"range\":{\"from\":\"20170714T024000\",\"to\":\"20172107T120300\"}}",
        200, TS_ERR_PROTO,
        "-Range field error: can't parse 20172107T120300 as end timestamp, unknown timestamp "
        "format\r\n");
    check(
        "{\"select\":\"temp\",\"range\":{\"from\":\"2017-07-14\",\"to\":\"2017-01-07 12:03:00\"}}",
        200, TS_ERR_PROTO,
        "-Range field error: can't parse 2017-07-14 as begin timestamp, unknown timestamp format, "
        "can't parse 2017-01-07 12:03:00 as end timestamp, unknown timestamp format\r\n");
    /* Akumuli's separator quirk when `to` fails before `from` was parsed. */
    check("{\"select\":\"temp\",\"range\":{\"to\":\"2017-bad\",\"from\":\"20170714T024000\"}}", 200,
          TS_ERR_PROTO,
          "-Range field error: , can't parse 2017-bad as end timestamp, unknown timestamp "
          "format\r\n");
}

static void test_order_by_error(void **state)
{
    check("{\"select\":\"temp\"," RANGE ",\"order-by\":\"value\"}", 200, TS_ERR_PROTO,
          "-Unexpected `order-by` field value `value`\r\n");
}

static void test_not_found(void **state)
{
    check("{\"select\":\"err\"," RANGE "}", 200, TS_ERR_NOTFOUND, "-not found\r\n");
    /* Range errors come first. */
    check("{\"select\":\"err\"}", 200, TS_ERR_PROTO, "-Range field is not set\r\n");
}

static void test_output_errors(void **state)
{
    check("{\"select\":\"temp\"," RANGE ",\"output\":{\"format\":\"xml\"}}", 400, TS_ERR_PROTO,
          "-invalid output statement (format)\r\n");
    check("{\"select\":\"temp\"," RANGE ",\"output\":{\"timestamp\":\"unix\"}}", 400, TS_ERR_PROTO,
          "-invalid output statement (timestamp)\r\n");
    /* Checked before anything else, even before the kind. */
    check("{\"output\":{\"format\":\"json\"}}", 400, TS_ERR_PROTO,
          "-invalid output statement (format)\r\n");
    /* ... but after JSON syntax. */
    check("{\"output\":{\"format\":\"json\"}", 200, TS_ERR_PROTO,
          "-JSON parsing error at line 1, '}' expected near end of file\r\n");
}

static void test_not_implemented_fields(void **state)
{
    check("{\"select\":\"temp\"," RANGE ",\"group-by-tag\":[\"host\"]}", 200, TS_ERR_PROTO,
          "-Field `group-by-tag` is not implemented by cairn yet\r\n");
    check("{\"select\":\"temp\"," RANGE ",\"pivot-by-tag\":\"host\"}", 200, TS_ERR_PROTO,
          "-Field `pivot-by-tag` is not implemented by cairn yet\r\n");
    check("{\"select\":\"temp\"," RANGE ",\"group-by\":[\"host\"]}", 200, TS_ERR_PROTO,
          "-Field `group-by` is not implemented by cairn yet\r\n");
    check("{\"select\":\"temp\"," RANGE ",\"apply\":[{\"name\":\"top\",\"N\":2}]}", 200,
          TS_ERR_PROTO, "-Field `apply` is not implemented by cairn yet\r\n");
    check("{\"select\":\"temp\"," RANGE ",\"group-by-tag\":[],\"limit\":1}", 200, TS_OK,
          ROW(A, "00", "0.5"));
}

/* ---------------------------------------------------------------- source failures */

static void test_source_limit(void **state)
{
    g_fake.max_points = 5;
    check("{\"select\":\"temp\"," RANGE "}", 200, TS_ERR_LIMIT,
          "-query reads more than query.max_points points\r\n");
    /* order-by series streams: the rows before the failure stay, then the error line. */
    g_fake.max_points = 0;
    g_fake.fail_id = 1025;
    g_fake.fail_rc = TS_ERR_IO;
    check(
        "{\"select\":\"temp\",\"range\":{\"from\":\"20170714T024000\",\"to\":\"20170714T024001\"},"
        "\"order-by\":\"series\"}",
        200, TS_ERR_IO, ROW(A, "00", "0.5") "-I/O error while reading series data\r\n");
}

/* ---------------------------------------------------------------- meta:names */

static void test_meta_names(void **state)
{
    check("{\"select\":\"meta:names\"}", 200, TS_OK,
          "+temp dc=x host=a\r\n+temp dc=x host=b\r\n+hum dc=x host=a\r\n");
    check("{\"select\":\"meta:names\",\"output\":{\"format\":\"csv\"}}", 200, TS_OK,
          "temp dc=x host=a\ntemp dc=x host=b\nhum dc=x host=a\n");
    check("{\"select\":\"meta:names:temp\"}", 200, TS_OK,
          "+temp dc=x host=a\r\n+temp dc=x host=b\r\n");
    check("{\"select\":\"meta:names:temp\",\"where\":{\"host\":\"b\"}}", 200, TS_OK,
          "+temp dc=x host=b\r\n");
    check("{\"select\":\"meta:names\",\"offset\":1,\"limit\":1}", 200, TS_OK,
          "+temp dc=x host=b\r\n");
    check("{\"select\":\"meta:names\",\"where\":{\"host\":\"b\"}}", 200, TS_ERR_PROTO,
          "-Invalid where clause, metric is not set\r\n");
    check("{\"select\":\"meta:names:nosuch\"}", 200, TS_OK, "");
    check("{\"select\":\"meta:names:\"}", 200, TS_OK, "");
    check("{\"select\":\"meta:names\",\"bogus\":1}", 200, TS_ERR_PROTO,
          "-Query object contains unexpected field `bogus`\r\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_select_limit_example, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filter_csv_raw_example, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filter_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_select_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filter_strict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filter_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forward_all_rows_time_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backward_time_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_grafana_descending_fraction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_order_by_series, setup, teardown),
        cmocka_unit_test_setup_teardown(test_order_by_series_stops_reading_at_limit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_limit_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limit_offset_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_where_object_forms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_where_array_form, setup, teardown),
        cmocka_unit_test_setup_teardown(test_integer_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_value_formats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_range_and_no_points, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nul_ends_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kind_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_range_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_order_by_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_output_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_implemented_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_source_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filter_form1_error_and_where_quirks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_key_prints_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge_matches_brute_force, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
