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

/* ---- the fast path against the general machine --------------------------------------------- */

/* Decode with pickle_decode_points_general; stop_after as in Sink. */
static void run_general(Run *r, const void *p, size_t n, const PickleLimits *lim, size_t cap,
                        size_t stop_after)
{
    memset(r, 0, sizeof(*r));
    arena_init(&r->arena, cap);
    r->skipped = 12345;
    r->sink.stop_after = stop_after;
    r->rc = pickle_decode_points_general(slice_make(p, n), lim, &r->arena, sink_fn, &r->sink,
                                         &r->skipped, &r->err);
}

static void run_fast(Run *r, const void *p, size_t n, const PickleLimits *lim, size_t cap,
                     size_t stop_after)
{
    memset(r, 0, sizeof(*r));
    arena_init(&r->arena, cap);
    r->skipped = 12345;
    r->sink.stop_after = stop_after;
    r->rc = pickle_decode_points(slice_make(p, n), lim, &r->arena, sink_fn, &r->sink, &r->skipped,
                                 &r->err);
}

static size_t diff_frames; /* frames compared */
static size_t diff_fast;   /* of which the fast path decoded without touching the arena */

/*
 * Decode 'p' both ways and require the same status, skipped count, error offset and message,
 * and points (names byte for byte, and at the same address when the general one points into
 * the frame; numbers bit for bit). Returns true if the fast path took the frame without any
 * arena memory (a frame without GETs that it decoded itself; the general machine always
 * allocates).
 */
static bool diff_one(const void *p, size_t n, const PickleLimits *lim, size_t cap,
                     size_t stop_after)
{
    Run g, f;
    const uint8_t *lo = p;
    run_general(&g, p, n, lim, cap, stop_after);
    run_fast(&f, p, n, lim, cap, stop_after);
    bool fast = f.arena.used_bytes == 0;
    if (f.rc != g.rc || f.skipped != g.skipped || f.sink.n != g.sink.n)
        fail_msg("n=%zu: fast rc %d skipped %zu points %zu [%s], general rc %d skipped %zu "
                 "points %zu [%s]",
                 n, f.rc, f.skipped, f.sink.n, f.err.msg, g.rc, g.skipped, g.sink.n, g.err.msg);
    if (g.rc != TS_OK && g.rc != TS_ERR_AGAIN) {
        assert_int_equal(f.err.pos, g.err.pos);
        assert_string_equal(f.err.msg, g.err.msg);
    }
    for (size_t i = 0; i < g.sink.n; i++) {
        const Point *a = &f.sink.pts[i];
        const Point *b = &g.sink.pts[i];
        if (!slice_eq(a->name, b->name))
            fail_msg("n=%zu point %zu: names differ", n, i);
        if (b->name.p >= lo && b->name.p < lo + n)
            assert_ptr_equal(a->name.p, b->name.p);
        assert_true(double_bits(a->ts_s) == double_bits(b->ts_s));
        assert_true(double_bits(a->value) == double_bits(b->value));
    }
    diff_frames++;
    diff_fast += fast;
    run_free(&g);
    run_free(&f);
    return fast;
}

/* diff_one under default, tight and loose limits, small arenas and an early stop. */
static bool diff_all(const void *p, size_t n)
{
    static const PickleLimits lims[] = {
        {0, 0, 0}, {3, 0, 0},  {2, 0, 0}, {16, 4096, 1024},
        {0, 7, 0}, {0, 30, 0}, {0, 0, 2}, {0, 0, 9},
    };
    static const size_t caps[] = {70000, 140000, 300000};
    bool fast = diff_one(p, n, NULL, ARENA_CAP, 0);
    for (size_t i = 0; i < sizeof(lims) / sizeof(lims[0]); i++)
        (void)diff_one(p, n, &lims[i], ARENA_CAP, 0);
    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
        (void)diff_one(p, n, NULL, caps[i], 0);
    (void)diff_one(p, n, NULL, 0, 2);
    return fast;
}

/* Frames in the shapes picklers make, built with every option the fast path knows. */
typedef struct Pk {
    Buf b;
    int proto;       /* 0: no PROTO opcode (protocol 1), else 2..5 */
    bool memo;       /* picklers memoize strs and tuples; gen.c does not */
    uint32_t memo_n; /* next memo index */
    uint64_t rng;
} Pk;

static uint64_t pk_rand(Pk *k)
{
    k->rng ^= k->rng << 13;
    k->rng ^= k->rng >> 7;
    k->rng ^= k->rng << 17;
    return k->rng;
}

static void pk_put(Pk *k)
{
    if (!k->memo)
        return;
    if (k->proto >= 4) {
        buf_put_u8(&k->b, 0x94);
    } else if (k->memo_n < 256) {
        buf_put_u8(&k->b, 'q');
        buf_put_u8(&k->b, (uint8_t)k->memo_n);
    } else {
        buf_put_u8(&k->b, 'r');
        buf_put_u32le(&k->b, k->memo_n);
    }
    k->memo_n++;
}

static void pk_str(Pk *k, const char *s, int form)
{
    size_t n = strlen(s);
    static const uint8_t short_ops[] = {0x8c, 'U', 'C'};
    static const uint8_t long_ops[] = {'X', 'T', 'B'};
    if (form < 3) {
        buf_put_u8(&k->b, short_ops[form]);
        buf_put_u8(&k->b, (uint8_t)n);
    } else if (form < 6) {
        buf_put_u8(&k->b, long_ops[form - 3]);
        buf_put_u32le(&k->b, (uint32_t)n);
    } else {
        buf_put_u8(&k->b, form == 6 ? 0x8d : 0x8e);
        buf_put_u64le(&k->b, n);
    }
    buf_append(&k->b, s, n);
    pk_put(k);
}

/* A number in one of the binary forms (or a str), chosen by 'form'. */
static void pk_num(Pk *k, int64_t i, double x, int form)
{
    char txt[40];
    switch (form) {
    case 0:
        buf_put_u8(&k->b, 'J');
        buf_put_u32le(&k->b, (uint32_t)(int32_t)i);
        break;
    case 1:
        buf_put_u8(&k->b, 'K');
        buf_put_u8(&k->b, (uint8_t)i);
        break;
    case 2:
        buf_put_u8(&k->b, 'M');
        buf_put_u16le(&k->b, (uint16_t)i);
        break;
    case 3: {
        buf_put_u8(&k->b, 0x8a);
        buf_put_u8(&k->b, 8);
        buf_put_u64le(&k->b, (uint64_t)i);
        break;
    }
    case 4: {
        uint64_t u = double_bits(x);
        buf_put_u8(&k->b, 'G');
        for (int s = 56; s >= 0; s -= 8)
            buf_put_u8(&k->b, (uint8_t)(u >> s));
        break;
    }
    case 5:
        buf_put_u8(&k->b, i ? 0x88 : 0x89);
        break;
    default:
        snprintf(txt, sizeof(txt), " %.17g\t", x);
        pk_str(k, txt, 0);
        break;
    }
}

/*
 * A frame of 'entries' entries; batches of 'batch' entries (1: APPEND each). Names repeat
 * every 'distinct' entries and are fetched with BINGET/LONG_BINGET when 'share' is set.
 */
static void pk_frame(Pk *k, size_t entries, size_t batch, size_t distinct, bool share)
{
    uint32_t *name_key = ts_calloc(distinct, sizeof(uint32_t));
    buf_clear(&k->b);
    k->memo_n = 0;
    if (k->proto) {
        buf_put_u8(&k->b, 0x80);
        buf_put_u8(&k->b, (uint8_t)k->proto);
    }
    if (k->proto >= 4) {
        buf_put_u8(&k->b, 0x95);
        buf_put_u64le(&k->b, 0); /* a frame length of 0 is within any data */
    }
    buf_put_u8(&k->b, ']');
    pk_put(k);
    for (size_t e = 0; e < entries;) {
        size_t m = entries - e < batch ? entries - e : batch;
        if (m > 1)
            buf_put_u8(&k->b, '(');
        for (size_t j = 0; j < m; j++, e++) {
            char name[48];
            size_t d = e % distinct;
            if (share && e >= distinct && k->memo) {
                if (name_key[d] < 256) {
                    buf_put_u8(&k->b, 'h');
                    buf_put_u8(&k->b, (uint8_t)name_key[d]);
                } else {
                    buf_put_u8(&k->b, 'j');
                    buf_put_u32le(&k->b, name_key[d]);
                }
            } else {
                snprintf(name, sizeof(name), "cpu.user;host=host_%04zu;dc=dc%zu", d, d % 8);
                name_key[d] = k->memo_n;
                pk_str(k, name, (int)(pk_rand(k) % 8));
            }
            if (k->proto >= 4 && pk_rand(k) % 16 == 0) {
                buf_put_u8(&k->b, 0x95);
                buf_put_u64le(&k->b, 1);
            }
            int64_t ts = 1767225600 + (int64_t)e * 10;
            pk_num(k, ts, (double)ts, pk_rand(k) % 4 == 0 ? 3 : 0);
            int vf = (int)(pk_rand(k) % 7);
            int64_t vi = vf == 1   ? (int64_t)(pk_rand(k) % 256)
                         : vf == 2 ? (int64_t)(pk_rand(k) % 65536)
                                   : (int64_t)(pk_rand(k) % 2000) - 1000;
            if (vf == 5)
                vi = (int64_t)(pk_rand(k) % 2);
            pk_num(k, vi, (double)vi / 100.0, vf);
            buf_put_u8(&k->b, 0x86);
            pk_put(k);
            buf_put_u8(&k->b, 0x86);
            pk_put(k);
        }
        buf_put_u8(&k->b, m > 1 ? 'e' : 'a');
    }
    buf_put_u8(&k->b, '.');
    ts_free(name_key);
}

/* The Python frames of [(n, (1500000000, 1.5)), (n, (1500000010, 2)), ('c.d', (1500000020,
 * '3.25'))] with n = 'a.b' one shared str, as pickle.dumps gives them at protocols 2 and 4. */
static const uint8_t PY2[] =
    "\x80\x02\x5d\x71\x00\x28\x58\x03\x00\x00\x00\x61\x2e\x62\x71\x01\x4a\x00\x2f\x68\x59\x47"
    "\x3f\xf8\x00\x00\x00\x00\x00\x00\x86\x71\x02\x86\x71\x03\x68\x01\x4a\x0a\x2f\x68\x59\x4b"
    "\x02\x86\x71\x04\x86\x71\x05\x58\x03\x00\x00\x00\x63\x2e\x64\x71\x06\x4a\x14\x2f\x68\x59"
    "\x58\x04\x00\x00\x00\x33\x2e\x32\x35\x71\x07\x86\x71\x08\x86\x71\x09\x65\x2e";
static const uint8_t PY4[] =
    "\x80\x04\x95\x40\x00\x00\x00\x00\x00\x00\x00\x5d\x94\x28\x8c\x03\x61\x2e\x62\x94\x4a\x00"
    "\x2f\x68\x59\x47\x3f\xf8\x00\x00\x00\x00\x00\x00\x86\x94\x86\x94\x68\x01\x4a\x0a\x2f\x68"
    "\x59\x4b\x02\x86\x94\x86\x94\x8c\x03\x63\x2e\x64\x94\x4a\x14\x2f\x68\x59\x8c\x04\x33\x2e"
    "\x32\x35\x94\x86\x94\x86\x94\x65\x2e";

static void test_fast_python_frames(void **state)
{
    const uint8_t *frames[] = {PY2, PY4};
    size_t lens[] = {sizeof(PY2) - 1, sizeof(PY4) - 1};
    for (size_t i = 0; i < 2; i++) {
        Run r;
        run(&r, frames[i], lens[i]);
        assert_int_equal(r.rc, TS_OK);
        assert_int_equal(r.skipped, 0);
        assert_int_equal(r.sink.n, 3);
        assert_true(slice_eq_cstr(r.sink.pts[0].name, "a.b"));
        assert_ptr_equal(r.sink.pts[1].name.p, r.sink.pts[0].name.p); /* the GET */
        assert_true(slice_eq_cstr(r.sink.pts[2].name, "c.d"));
        assert_true(r.sink.pts[0].ts_s == 1500000000.0 && r.sink.pts[0].value == 1.5);
        assert_true(r.sink.pts[1].ts_s == 1500000010.0 && r.sink.pts[1].value == 2.0);
        assert_true(r.sink.pts[2].ts_s == 1500000020.0 && r.sink.pts[2].value == 3.25);
        run_free(&r);
        /* The fast path took them: its only arena use is the memo's 10 names (16 bytes each),
         * where the general machine takes 48 bytes per object and more. */
        Arena a;
        Sink sk = {0};
        arena_init(&a, 0);
        uint8_t *first = arena_alloc(&a, 16);
        assert_int_equal(pickle_decode_points(slice_make(frames[i], lens[i]), NULL, &a, sink_fn,
                                              &sk, NULL, NULL),
                         TS_OK);
        uint8_t *next = arena_alloc(&a, 16);
        assert_true(next > first && (size_t)(next - first) <= 16 + 10 * sizeof(Slice));
        arena_deinit(&a);
        ts_free(sk.pts);
        (void)diff_all(frames[i], lens[i]);
        /* every truncation */
        for (size_t k = 0; k < lens[i]; k++)
            (void)diff_one(frames[i], k, NULL, ARENA_CAP, 0);
    }
}

/* Every fixture, under every limit set: the fast path and the general machine agree. */
static void test_fast_fixtures(void **state)
{
    FILE *f = open_fixture("expected.txt", "r");
    char line[LINE_MAX_BYTES];
    size_t fast = 0;
    if (!f)
        fail_msg("cannot open tests/data/pickle/expected.txt");
    while (fgets(line, sizeof(line), f)) {
        char file[256];
        if (sscanf(line, "frame %255s", file) != 1)
            continue;
        size_t n;
        uint8_t *data = read_fixture(file, &n);
        fast += diff_all(data, n);
        ts_free(data);
    }
    fclose(f);
    /* data_p1..p5, many_p1/p2/p4, bytes_names_p2..p5, doc_p2 at least */
    if (fast < 8)
        fail_msg("only %zu fixtures took the fast path", fast);
}

/* Built frames of every form, their truncations and single-byte changes. */
static void test_fast_vs_general(void **state)
{
    Pk k;
    buf_init(&k.b);
    k.rng = 0x9e3779b97f4a7c15ull;
    static const int protos[] = {0, 2, 3, 4, 5};
    size_t fast = 0, built = 0;
    for (size_t pi = 0; pi < sizeof(protos) / sizeof(protos[0]); pi++) {
        for (int memo = 0; memo < 2; memo++) {
            static const size_t shapes[][4] = {
                /* entries, batch, distinct, share */
                {0, 1000, 1, 0}, {1, 1000, 1, 0},     {3, 1, 3, 0},        {7, 1000, 3, 1},
                {40, 16, 10, 1}, {500, 1000, 500, 0}, {300, 1000, 100, 1}, {2100, 1000, 2100, 0},
            };
            k.proto = protos[pi];
            k.memo = memo;
            for (size_t si = 0; si < sizeof(shapes) / sizeof(shapes[0]); si++) {
                pk_frame(&k, shapes[si][0], shapes[si][1], shapes[si][2], shapes[si][3] != 0);
                bool f = diff_all(k.b.p, k.b.n);
                bool has_get = shapes[si][3] && memo && shapes[si][0] > shapes[si][2];
                /* Without GETs the fast path takes every built frame (no arena at all). */
                if (!has_get && !f)
                    fail_msg("proto %d memo %d shape %zu: not taken by the fast path", k.proto,
                             memo, si);
                fast += f;
                built++;
                if (k.b.n > 4000)
                    continue;
                /* Every truncation and, at every offset, a few other bytes. */
                uint8_t *copy = ts_malloc(k.b.n);
                for (size_t i = 0; i < k.b.n; i++) {
                    (void)diff_one(k.b.p, i, NULL, ARENA_CAP, 0);
                    static const uint8_t subst[] = {0x00, 0x01, 0x80, 0xff, '(', 'e', 'a', '.',
                                                    0x86, 0x94, 'q',  'h',  'X', 'J', 'G', 'N'};
                    for (size_t s = 0; s < sizeof(subst); s++) {
                        if (subst[s] == k.b.p[i])
                            continue;
                        memcpy(copy, k.b.p, k.b.n);
                        copy[i] = subst[s];
                        (void)diff_one(copy, k.b.n, NULL, ARENA_CAP, 0);
                    }
                }
                ts_free(copy);
            }
        }
    }
    assert_true(fast > built / 2);
    buf_deinit(&k.b);
}

/* Limits at their edges: the fast path defers to the general machine exactly there. */
static void test_fast_limits(void **state)
{
    Pk k;
    buf_init(&k.b);
    k.rng = 7;
    k.proto = 2;
    k.memo = true;
    pk_frame(&k, 10, 1000, 10, false); /* 1 list + 50 objects, 31 memo keys, walk 30 */
    for (size_t items = 25; items <= 60; items++) {
        PickleLimits lim = {0, items, 0};
        (void)diff_one(k.b.p, k.b.n, &lim, ARENA_CAP, 0);
    }
    for (size_t memo = 25; memo <= 35; memo++) {
        PickleLimits lim = {0, 0, memo};
        (void)diff_one(k.b.p, k.b.n, &lim, ARENA_CAP, 0);
    }
    for (size_t depth = 1; depth <= 4; depth++) {
        PickleLimits lim = {depth, 0, 0};
        (void)diff_one(k.b.p, k.b.n, &lim, ARENA_CAP, 0);
    }
    /* Arena caps around what the general machine needs for a big frame. */
    pk_frame(&k, 20000, 1000, 20000, false);
    size_t cap_min = 0; /* smallest cap tried that the general machine fits in */
    for (size_t cap = 64u << 10; cap <= (16u << 20); cap += cap / 64) {
        (void)diff_one(k.b.p, k.b.n, NULL, cap, 0);
        if (!cap_min) {
            Run g;
            run_general(&g, k.b.p, k.b.n, NULL, cap, 0);
            if (g.rc == TS_OK)
                cap_min = cap;
            run_free(&g);
        }
    }
    assert_true(cap_min > 0);
    /* With 3x that the fast path must take it (its bound is not absurdly loose). */
    Run q;
    run_fast(&q, k.b.p, k.b.n, NULL, 3 * cap_min, 0);
    assert_int_equal(q.rc, TS_OK);
    assert_int_equal(q.arena.used_bytes, 0);
    run_free(&q);
    Run r;
    run_fast(&r, k.b.p, k.b.n, NULL, 0, 0); /* unlimited arena: the fast path */
    assert_int_equal(r.rc, TS_OK);
    assert_int_equal(r.sink.n, 20000);
    assert_int_equal(r.arena.used_bytes, 0);
    run_free(&r);
    buf_deinit(&k.b);
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
        cmocka_unit_test(test_fast_python_frames),
        cmocka_unit_test(test_fast_fixtures),
        cmocka_unit_test(test_fast_vs_general),
        cmocka_unit_test(test_fast_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
