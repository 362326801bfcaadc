/*
 * Unit tests for proto/pickle: the safe Graphite pickle decoder.
 *
 * Most cases are fixtures made by Python's own pickle module (tests/data/pickle/gen.py, which
 * also writes the expected points in expected.txt): protocols 0-5, Java and Python 2 style
 * hand-written frames, and hostile frames (globals, REDUCE/BUILD/INST/OBJ/NEWOBJ/EXT payloads,
 * 100000-deep nesting, memo loops, 4 GB declared strings). The inline cases pin the details a
 * fixture cannot show: error offsets, zero-copy names, number conversion edges, limits, arena
 * exhaustion and early stop by the callback.
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

#include "core/alloc.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/endian.h"
#include "proto/pickle.h"

#define ARENA_CAP (64u << 20)
#define LINE_MAX_BYTES 4096
#define FIXTURE_DIR "tests/data/pickle/"

typedef struct Point {
    Slice name;
    double ts_s;
    double value;
} Point;

typedef struct Sink {
    Point *pts;
    size_t n;
    size_t cap;
    size_t stop_after; /* return TS_ERR_AGAIN once this many points were seen; 0 = never */
} Sink;

static int sink_fn(void *ctx, Slice name, double ts_s, double value)
{
    Sink *s = ctx;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->pts = ts_realloc(s->pts, s->cap * sizeof(Point));
    }
    s->pts[s->n].name = name;
    s->pts[s->n].ts_s = ts_s;
    s->pts[s->n].value = value;
    s->n++;
    if (s->stop_after && s->n == s->stop_after)
        return TS_ERR_AGAIN;
    return TS_OK;
}

typedef struct Run {
    int rc;
    size_t skipped;
    TsError err;
    Sink sink;
    Arena arena;
} Run;

static void run_lim(Run *r, const void *p, size_t n, const PickleLimits *lim, size_t cap)
{
    memset(r, 0, sizeof(*r));
    arena_init(&r->arena, cap);
    r->skipped = 12345;
    r->rc = pickle_decode_points(slice_make(p, n), lim, &r->arena, sink_fn, &r->sink, &r->skipped,
                                 &r->err);
}

static void run(Run *r, const void *p, size_t n)
{
    run_lim(r, p, n, NULL, ARENA_CAP);
}

static void run_free(Run *r)
{
    ts_free(r->sink.pts);
    arena_deinit(&r->arena);
}

/* Decode, expect exactly one point and return it (names are compared by the caller). */
static Point one_point(const void *p, size_t n, Run *r)
{
    run(r, p, n);
    if (r->rc != TS_OK)
        fail_msg("rejected: %s", r->err.msg);
    assert_int_equal(r->sink.n, 1);
    assert_int_equal(r->skipped, 0);
    return r->sink.pts[0];
}

static void expect_reject(const void *p, size_t n, int want_rc, size_t want_pos,
                          const char *want_in_msg)
{
    Run r;
    run(&r, p, n);
    if (r.rc != want_rc)
        fail_msg("rc %d (%s), want %d", r.rc, r.err.msg, want_rc);
    assert_int_equal(r.sink.n, 0);
    assert_int_equal(r.err.pos, want_pos);
    if (!strstr(r.err.msg, want_in_msg))
        fail_msg("message [%s] lacks [%s]", r.err.msg, want_in_msg);
    run_free(&r);
}

/* ---- fixtures ------------------------------------------------------------------------------ */

static FILE *open_fixture(const char *name, const char *mode)
{
    char path[1024];
    snprintf(path, sizeof(path), FIXTURE_DIR "%s", name);
    FILE *f = fopen(path, mode);
    if (f)
        return f;
    /* Not run from the repo root: try relative to this source file. */
    const char *src = __FILE__;
    const char *slash = strrchr(src, '/');
    int dir_len = slash ? (int)(slash - src) : 0;
    snprintf(path, sizeof(path), "%.*s/../data/pickle/%s", dir_len, src, name);
    return fopen(path, mode);
}

static uint8_t *read_fixture(const char *name, size_t *n)
{
    FILE *f = open_fixture(name, "rb");
    if (!f)
        fail_msg("cannot open fixture %s", name);
    Buf b;
    buf_init(&b);
    uint8_t chunk[65536];
    size_t k;
    while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(&b, chunk, k);
    fclose(f);
    *n = b.n;
    uint8_t *p = ts_malloc(b.n ? b.n : 1);
    if (b.n)
        memcpy(p, b.p, b.n);
    buf_deinit(&b);
    return p;
}

static int status_of(const char *s)
{
    if (strcmp(s, "OK") == 0)
        return TS_OK;
    if (strcmp(s, "PROTO") == 0)
        return TS_ERR_PROTO;
    if (strcmp(s, "LIMIT") == 0)
        return TS_ERR_LIMIT;
    fail_msg("bad status %s", s);
    return 0;
}

static double hex_double(const char *h)
{
    char *end = NULL;
    uint64_t u = strtoull(h, &end, 16);
    assert_true(end == h + 16);
    return bits_double(u);
}

static void hex_bytes(const char *h, Buf *out)
{
    buf_clear(out);
    if (strcmp(h, "-") == 0)
        return;
    size_t n = strlen(h);
    assert_true(n % 2 == 0);
    for (size_t i = 0; i < n; i += 2) {
        unsigned x;
        assert_int_equal(sscanf(h + i, "%2x", &x), 1);
        buf_put_u8(out, (uint8_t)x);
    }
}

static void same_double(double got, double want, const char *what, const char *file, size_t i)
{
    if (isnan(want) && isnan(got))
        return;
    if (double_bits(got) != double_bits(want))
        fail_msg("%s point %zu: %s %.17g, want %.17g", file, i, what, got, want);
}

/* Check one frame against its expected.txt block; the 'point' lines follow in 'f'. */
static void check_frame(FILE *f, const char *file, int want_rc, size_t want_skipped, size_t npoints,
                        size_t nlisted)
{
    size_t n;
    uint8_t *data = read_fixture(file, &n);
    Run r;
    Buf name;
    char line[LINE_MAX_BYTES];

    buf_init(&name);
    run(&r, data, n);
    if (r.rc != want_rc)
        fail_msg("%s: rc %d (%s), want %d", file, r.rc, r.err.msg, want_rc);
    if (want_rc != TS_OK) {
        assert_int_equal(r.sink.n, 0); /* nothing from a rejected frame */
        assert_true(r.err.pos <= n);
        assert_true(r.err.msg[0] != '\0');
        if (strncmp(file, "op_", 3) == 0) {
            /* op_<name>.pickle: the message names the opcode */
            char op[64];
            size_t k = 0;
            for (const char *c = file + 3; *c && *c != '.' && k + 1 < sizeof(op); c++)
                op[k++] = (char)(*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c);
            op[k] = '\0';
            if (strcmp(op, "UNKNOWN") == 0)
                strcpy(op, "unknown");
            if (!strstr(r.err.msg, op))
                fail_msg("%s: message [%s] lacks %s", file, r.err.msg, op);
        }
    } else {
        assert_int_equal(r.skipped, want_skipped);
        if (r.sink.n != npoints)
            fail_msg("%s: %zu points, want %zu", file, r.sink.n, npoints);
    }
    Point *want = ts_calloc(nlisted ? nlisted : 1, sizeof(Point));
    Buf *names = ts_calloc(nlisted ? nlisted : 1, sizeof(Buf));
    for (size_t i = 0; i < nlisted; i++) {
        char nh[LINE_MAX_BYTES], th[64], vh[64];
        assert_non_null(fgets(line, sizeof(line), f));
        assert_int_equal(sscanf(line, "point %4095s %63s %63s", nh, th, vh), 3);
        buf_init(&names[i]);
        hex_bytes(nh, &names[i]);
        want[i].ts_s = hex_double(th);
        want[i].value = hex_double(vh);
    }
    for (size_t i = 0; i < r.sink.n && want_rc == TS_OK; i++) {
        const Point *g = &r.sink.pts[i];
        const Point *w = &want[i % nlisted];
        Slice wn = slice_make(names[i % nlisted].p, names[i % nlisted].n);
        if (!slice_eq(g->name, wn))
            fail_msg("%s point %zu: name [%.*s] differs", file, i, (int)g->name.n,
                     (const char *)g->name.p);
        same_double(g->ts_s, w->ts_s, "ts", file, i);
        same_double(g->value, w->value, "value", file, i);
    }
    for (size_t i = 0; i < nlisted; i++)
        buf_deinit(&names[i]);
    ts_free(names);
    ts_free(want);
    buf_deinit(&name);
    run_free(&r);
    ts_free(data);
}

static void test_fixtures(void **state)
{
    FILE *f = open_fixture("expected.txt", "r");
    char line[LINE_MAX_BYTES];
    size_t frames = 0;
    size_t rejected = 0;

    if (!f)
        fail_msg("cannot open tests/data/pickle/expected.txt");
    while (fgets(line, sizeof(line), f)) {
        char file[256], status[16];
        size_t skipped, npoints, nlisted;
        if (line[0] == '#')
            continue;
        if (sscanf(line, "frame %255s %15s %zu %zu %zu", file, status, &skipped, &npoints,
                   &nlisted) != 5)
            fail_msg("bad manifest line: %s", line);
        int rc = status_of(status);
        check_frame(f, file, rc, skipped, npoints, nlisted);
        frames++;
        rejected += rc != TS_OK;
    }
    fclose(f);
    /* The manifest is not silently empty or truncated. */
    assert_true(frames >= 75);
    assert_true(rejected >= 45);
}

/* ---- inline cases -------------------------------------------------------------------------- */

/* graphite.md's protocol-2 example; string pieces split where a hex escape meets a hex digit. */
static const uint8_t DOC2[] = "\x80\x02]q\x00X\x03\x00\x00\x00"
                              "a.bq\x01J\x00/hYG?\xf8\x00\x00\x00\x00\x00\x00\x86q\x02\x86q\x03"
                              "a.";
#define DOC2_LEN (sizeof(DOC2) - 1)

static void test_doc_examples(void **state)
{
    Run r;
    Point p = one_point(DOC2, DOC2_LEN, &r);
    assert_true(slice_eq_cstr(p.name, "a.b"));
    assert_ptr_equal(p.name.p, DOC2 + 10); /* binary strings are not copied */
    assert_true(p.ts_s == 1500000000.0);
    assert_true(p.value == 1.5);
    run_free(&r);

    const char *doc0 = "(lp0\n(Va.b\np1\n(I1500000000\nF1.5\ntp2\ntp3\na.";
    p = one_point(doc0, strlen(doc0), &r);
    assert_true(slice_eq_cstr(p.name, "a.b"));
    assert_true(p.ts_s == 1500000000.0 && p.value == 1.5);
    run_free(&r);

    const char *jmeter = "(l(S'a.b'\n(L1500000000L\nS'1.5'\ntta.";
    p = one_point(jmeter, strlen(jmeter), &r);
    assert_true(slice_eq_cstr(p.name, "a.b"));
    assert_true(p.ts_s == 1500000000.0 && p.value == 1.5);
    run_free(&r);
}

static void test_error_positions(void **state)
{
    const char *g = "(lcos\nsystem\n(S'true'\ntR.";
    expect_reject(g, strlen(g), TS_ERR_PROTO, 2, "'c' (GLOBAL): opcode not allowed");
    uint8_t trailing[DOC2_LEN + 2];
    memcpy(trailing, DOC2, DOC2_LEN);
    trailing[DOC2_LEN] = '.';
    trailing[DOC2_LEN + 1] = 'x';
    expect_reject(trailing, DOC2_LEN + 2, TS_ERR_PROTO, DOC2_LEN, "2 bytes after STOP");
    expect_reject(DOC2, DOC2_LEN - 1, TS_ERR_PROTO, DOC2_LEN - 1, "no STOP");
    expect_reject(DOC2, 12, TS_ERR_PROTO, 5, "'X' (BINUNICODE): declared length");
    expect_reject("\x80\x02]T\xff\xff\xff\xff"
                  "a.",
                  10, TS_ERR_PROTO, 3, "negative byte count");
    expect_reject("\x80\x02]\x8b\xff\xff\xff\x7f"
                  "a.",
                  10, TS_ERR_PROTO, 3, "LONG4");
    expect_reject("\x80\x02]h\x05"
                  "a.",
                  7, TS_ERR_PROTO, 3, "memo key not found");
    expect_reject("\x80\x06].", 4, TS_ERR_PROTO, 0, "unsupported pickle protocol");
    expect_reject("0.", 2, TS_ERR_PROTO, 0, "stack underflow");
    expect_reject("(K\x01"
                  "d.",
                  5, TS_ERR_PROTO, 3, "odd number");
}

static void test_string_number_grammar(void **state)
{
    static const struct {
        const char *s;
        double want; /* NAN: must be NaN; -99 = skipped */
    } cases[] = {
        {"1.5", 1.5},  {" 2e3\t", 2000.0},  {".5", 0.5},       {"5.", 5.0},
        {"-0", -0.0},  {"+7", 7.0},         {"inf", INFINITY}, {"-Infinity", -INFINITY},
        {"nan", NAN},  {"1e999", INFINITY}, {"1e-999", 0.0},   {"1_0", -99},
        {"0x10", -99}, {"abc", -99},        {"", -99},         {"1.5.", -99},
        {"e5", -99},   {"1e", -99},         {"infi", -99},     {"nan(1)", -99},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Buf b;
        Run r;
        size_t n = strlen(cases[i].s);
        buf_init(&b);
        buf_puts(&b, "\x80\x02](\x8c\x01mK\x01\x8c");
        buf_put_u8(&b, (uint8_t)n);
        buf_append(&b, cases[i].s, n);
        buf_puts(&b, "\x86\x86"
                     "e.");
        run(&r, b.p, b.n);
        assert_int_equal(r.rc, TS_OK);
        if (cases[i].want == -99) {
            if (r.sink.n != 0 || r.skipped != 1)
                fail_msg("[%s] converted", cases[i].s);
        } else {
            if (r.sink.n != 1)
                fail_msg("[%s] skipped", cases[i].s);
            double got = r.sink.pts[0].value;
            if (isnan(cases[i].want))
                assert_true(isnan(got));
            else if (double_bits(got) != double_bits(cases[i].want))
                fail_msg("[%s] -> %.17g", cases[i].s, got);
        }
        run_free(&r);
        buf_deinit(&b);
    }
}

/* One entry ("m", (0, <value given as raw opcode bytes>)) at protocol 2. */
static double value_of(const void *op, size_t n, bool *converted)
{
    Buf b;
    Run r;
    double v = 0;
    buf_init(&b);
    buf_append(&b, "\x80\x02](\x8c\x01mK\x00", 9);
    buf_append(&b, op, n);
    buf_puts(&b, "\x86\x86"
                 "e.");
    run(&r, b.p, b.n);
    if (r.rc != TS_OK)
        fail_msg("rejected: %s", r.err.msg);
    *converted = r.sink.n == 1;
    if (*converted)
        v = r.sink.pts[0].value;
    else
        assert_int_equal(r.skipped, 1);
    run_free(&r);
    buf_deinit(&b);
    return v;
}

static void test_integers(void **state)
{
    bool ok;
    /* LONG1 of 8 bytes is exact int64 */
    assert_true(value_of("\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80", 10, &ok) == -0x1p63 && ok);
    assert_true(
        value_of("\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7f", 10, &ok) == (double)INT64_MAX && ok);
    assert_true(value_of("\x8a\x00", 2, &ok) == 0.0 && ok);
    assert_true(value_of("\x8a\x01\xff", 3, &ok) == -1.0 && ok);
    /* 2^64 and -(2^64) need 9 bytes */
    assert_true(value_of("\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01", 11, &ok) == 0x1p64);
    assert_true(value_of("\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\xff", 11, &ok) == -0x1p64);
    /* 2^64 + 2^11 + 1: halfway plus a sticky bit rounds up; 2^64 + 2^11 is a tie, to even */
    assert_true(value_of("\x8a\x09\x01\x08\x00\x00\x00\x00\x00\x00\x01", 11, &ok) ==
                0x1p64 + 0x1p12);
    assert_true(value_of("\x8a\x09\x00\x08\x00\x00\x00\x00\x00\x00\x01", 11, &ok) == 0x1p64);
    /* LONG4 with redundant sign bytes */
    assert_true(value_of("\x8b\x03\x00\x00\x00\x05\x00\x00", 8, &ok) == 5.0 && ok);
    /* 2^1023 converts, 2^1024 does not (Python: OverflowError) */
    uint8_t big[2 + 129];
    memset(big, 0, sizeof(big));
    big[0] = 0x8a;
    big[1] = 129;
    big[2 + 127] = 0x80; /* bit 1023, plus a zero sign byte */
    assert_true(value_of(big, sizeof(big), &ok) == 0x1p1023 && ok);
    big[2 + 127] = 0;
    big[2 + 128] = 0x01; /* bit 1024 */
    value_of(big, sizeof(big), &ok);
    assert_false(ok);
    /* protocol-0 INT/LONG */
    assert_true(value_of("I00\n", 4, &ok) == 0.0 && ok);
    assert_true(value_of("I01\n", 4, &ok) == 1.0 && ok);
    assert_true(value_of("I-5\n", 4, &ok) == -5.0 && ok);
    assert_true(value_of("I-9223372036854775808\n", 22, &ok) == -0x1p63 && ok);
    assert_true(value_of("L123456789012345678901234567890L\n", 33, &ok) ==
                123456789012345678901234567890.0);
    assert_true(value_of("L9223372036854775808\n", 21, &ok) == 0x1p63 && ok);
    /* BININT is signed, BININT2 and BININT1 are not; BINFLOAT is big-endian */
    assert_true(value_of("J\xff\xff\xff\xff", 5, &ok) == -1.0);
    assert_true(value_of("M\xff\xff", 3, &ok) == 65535.0);
    assert_true(value_of("K\xff", 2, &ok) == 255.0);
    assert_true(value_of("G\xc0\x04\x00\x00\x00\x00\x00\x00", 9, &ok) == -2.5);
    assert_true(value_of("\x88", 1, &ok) == 1.0 && ok);
    value_of("N", 1, &ok);
    assert_false(ok);
    value_of("]", 1, &ok);
    assert_false(ok);
}

static void test_text_strings(void **state)
{
    Run r;
    /* 'V': Latin-1 bytes become UTF-8, \U and lone surrogates as UTF-8 / 3-byte sequences */
    const char *v = "(l(V\xe9\\U0001f600\\ud800\\\\u0041\n(I1\nI2\ntta.";
    Point p = one_point(v, strlen(v), &r);
    const char want_v[] = "\xc3\xa9\xf0\x9f\x98\x80\xed\xa0\x80\\\\u0041";
    assert_int_equal(p.name.n, sizeof(want_v) - 1);
    assert_memory_equal(p.name.p, want_v, p.name.n);
    run_free(&r);
    /* 'S': escapes, octal wrapping above 0o377, unknown escapes kept */
    const char *s = "(l(S'\\x41\\101\\777\\q\\\\\\'\\n'\n(I1\nI2\ntta.";
    p = one_point(s, strlen(s), &r);
    const char want_s[] = "AA\xff\\q\\'\n";
    assert_int_equal(p.name.n, sizeof(want_s) - 1);
    assert_memory_equal(p.name.p, want_s, p.name.n);
    run_free(&r);
    const char *bad = "(l(V\\U00110000\n(I1\nI2\ntta.";
    expect_reject(bad, strlen(bad), TS_ERR_PROTO, 3, "out of range");
    const char *trail = "(l(S'a\\'\n(I1\nI2\ntta.";
    expect_reject(trail, strlen(trail), TS_ERR_PROTO, 3, "trailing");
}

static void test_limits(void **state)
{
    Run r;
    PickleLimits lim = {3, 0, 0};
    run_lim(&r, DOC2, DOC2_LEN, &lim, ARENA_CAP); /* list > tuple > tuple: depth 3 */
    assert_int_equal(r.rc, TS_OK);
    assert_int_equal(r.sink.n, 1);
    run_free(&r);
    lim.max_depth = 2;
    run_lim(&r, DOC2, DOC2_LEN, &lim, ARENA_CAP);
    assert_int_equal(r.rc, TS_ERR_LIMIT);
    assert_int_equal(r.err.pos, 35); /* the APPEND makes the list 3 deep */
    assert_int_equal(r.sink.n, 0);
    run_free(&r);

    PickleLimits items = {0, 5, 0}; /* the doc frame creates 6 objects */
    run_lim(&r, DOC2, DOC2_LEN, &items, ARENA_CAP);
    assert_int_equal(r.rc, TS_ERR_LIMIT);
    assert_int_equal(r.sink.n, 0);
    run_free(&r);
    items.max_items = 6;
    run_lim(&r, DOC2, DOC2_LEN, &items, ARENA_CAP);
    assert_int_equal(r.rc, TS_OK);
    run_free(&r);

    PickleLimits memo = {0, 0, 3}; /* the doc frame stores 4 memo keys */
    run_lim(&r, DOC2, DOC2_LEN, &memo, ARENA_CAP);
    assert_int_equal(r.rc, TS_ERR_LIMIT);
    assert_true(strstr(r.err.msg, "max_memo") != NULL);
    run_free(&r);

    /* Arena exhaustion is a limit, not a crash. */
    size_t n;
    uint8_t *many = read_fixture("many_p2.pickle", &n);
    run_lim(&r, many, n, NULL, 100000);
    assert_int_equal(r.rc, TS_ERR_LIMIT);
    assert_true(strstr(r.err.msg, "arena") != NULL);
    assert_int_equal(r.sink.n, 0);
    run_free(&r);
    ts_free(many);

    /* Memo fan-out: 6 objects, but 300001 walk steps: refused before any point with a budget. */
    uint8_t *fan = read_fixture("memo_fanout.pickle", &n);
    PickleLimits walk = {0, 1000, 0};
    run_lim(&r, fan, n, &walk, ARENA_CAP);
    assert_int_equal(r.rc, TS_ERR_LIMIT);
    assert_int_equal(r.err.pos, n - 1);
    assert_int_equal(r.sink.n, 0);
    run_free(&r);
    ts_free(fan);
}

static void test_callback_stops(void **state)
{
    size_t n;
    uint8_t *many = read_fixture("many_p2.pickle", &n);
    Run r;
    memset(&r, 0, sizeof(r));
    arena_init(&r.arena, ARENA_CAP);
    r.sink.stop_after = 2;
    r.rc = pickle_decode_points(slice_make(many, n), NULL, &r.arena, sink_fn, &r.sink, NULL, NULL);
    assert_int_equal(r.rc, TS_ERR_AGAIN);
    assert_int_equal(r.sink.n, 2);
    run_free(&r);
    ts_free(many);
}

static void test_every_unknown_byte(void **state)
{
    /* Every byte that is not an allowed opcode is rejected at its own offset. */
    static const char allowed[] = "(.012FIJKLMNSTUVXadegjhlpqrst)u}]GBC";
    for (int op = 0; op < 256; op++) {
        if ((op < 0x80 && op != 0 && strchr(allowed, op)) ||
            (op >= 0x80 && op <= 0x95 && op != 0x81 && op != 0x82 && op != 0x83 && op != 0x84 &&
             op != 0x92 && op != 0x93))
            continue;
        uint8_t f[] = {0x80, 0x02, ']', (uint8_t)op, '.'};
        Run r;
        run(&r, f, sizeof(f));
        if (r.rc != TS_ERR_PROTO || r.err.pos != 3 || r.sink.n != 0)
            fail_msg("opcode 0x%02x: rc %d pos %zu", op, r.rc, r.err.pos);
        run_free(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_doc_examples),
        cmocka_unit_test(test_error_positions),
        cmocka_unit_test(test_string_number_grammar),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_text_strings),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_callback_stops),
        cmocka_unit_test(test_every_unknown_byte),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
