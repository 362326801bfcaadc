/*
 * Unit tests for core/series_key: canonical ordering, escaping, limits, split, the
 * build(split(k)) == k round trip over generated components, and the Graphite display form.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/series_key.h"

#define BIG 1000000

static SeriesTag tag(const char *k, const char *v)
{
    SeriesTag t = {slice_cstr(k), slice_cstr(v)};
    return t;
}

/* Build and compare the result with 'want' (NUL-terminated). */
static void check_build(const char *metric, const SeriesTag *tags, size_t n, const char *want)
{
    Buf b;
    TsError err;
    buf_init(&b);
    assert_int_equal(series_key_build(slice_cstr(metric), tags, n, 32, BIG, &b, &err), TS_OK);
    assert_int_equal(b.n, strlen(want));
    assert_memory_equal(b.p, want, b.n);
    buf_deinit(&b);
}

static void test_build_sorted(void **state)
{
    SeriesTag t[] = {tag("host", "a"), tag("dc", "x")};
    check_build("cpu", t, 2, "cpu dc=x host=a");
    check_build("a.b.c", NULL, 0, "a.b.c");
}

static void test_build_prefix_first(void **state)
{
    SeriesTag t1[] = {tag("ab", "1"), tag("a", "2")};
    check_build("m", t1, 2, "m a=2 ab=1");
    /* keys compared alone: "a" is a prefix of "a-b", so it sorts first even though '-' < '=' */
    SeriesTag t2[] = {tag("a-b", "1"), tag("a", "2")};
    check_build("m", t2, 2, "m a=2 a-b=1");
    SeriesTag t3[] = {tag("b", "1"), tag("B", "2"), tag("_", "3"), tag("0", "4")};
    check_build("m", t3, 4, "m 0=4 B=2 _=3 b=1");
}

static void test_build_duplicates_stable(void **state)
{
    SeriesTag t[] = {tag("host", "b"), tag("dc", "x"), tag("host", "a")};
    check_build("m", t, 3, "m dc=x host=b host=a");
}

static void test_build_escapes(void **state)
{
    SeriesTag t[] = {tag("k k", "v v"), tag("x", "a\\ b")};
    check_build("my metric", t, 2, "my\\ metric k\\ k=v\\ v x=a\\ b");
    check_build("esc\\ m", NULL, 0, "esc\\ m");
    check_build(" lead", NULL, 0, "\\ lead");
    SeriesTag e[] = {tag("k", ""), tag("j", "a=b")};
    check_build("m", e, 2, "m j=a=b k=");
    /* ordering uses the escaped form: "a\ b" has '\' (0x5c) after "a", '!' is 0x21 */
    SeriesTag o[] = {tag("a b", "1"), tag("a!", "2")};
    check_build("m", o, 2, "m a!=2 a\\ b=1");
}

static void check_build_err(const char *metric, const SeriesTag *tags, size_t n, size_t max_tags,
                            size_t max_bytes, int want_rc, const char *want_msg)
{
    Buf b;
    TsError err;
    buf_init(&b);
    buf_puts(&b, "keep");
    int rc = series_key_build(slice_cstr(metric), tags, n, max_tags, max_bytes, &b, &err);
    assert_int_equal(rc, want_rc);
    assert_string_equal(err.msg, want_msg);
    assert_int_equal(b.n, 4); /* nothing appended on error */
    assert_memory_equal(b.p, "keep", 4);
    buf_deinit(&b);
}

static void test_build_errors(void **state)
{
    SeriesTag ok[] = {tag("a", "1"), tag("b", "2"), tag("c", "3")};
    SeriesTag empty_key[] = {tag("a", "1"), tag("", "2")};
    SeriesTag eq_key[] = {tag("a=b", "1")};
    SeriesTag bs_val[] = {tag("a", "x\\"), tag("b", "1")};
    SeriesTag bs_key[] = {tag("a\\", "1")};

    check_build_err("", NULL, 0, 32, BIG, TS_ERR_PROTO, "empty metric name");
    check_build_err("m", empty_key, 2, 32, BIG, TS_ERR_PROTO, "empty tag key");
    check_build_err("m", eq_key, 1, 32, BIG, TS_ERR_PROTO, "tag key contains '='");
    check_build_err("m", bs_val, 2, 32, BIG, TS_ERR_PROTO, "tag value ends with '\\'");
    check_build_err("m\\", ok, 1, 32, BIG, TS_ERR_PROTO,
                    "metric name of a tagged series ends with '\\'");
    check_build_err("m", ok, 3, 2, BIG, TS_ERR_LIMIT, "too many tags: 3 (max 2)");
    check_build_err("m", ok, 3, 3, 11, TS_ERR_LIMIT, "series key too long: 13 bytes (max 11)");
    /* a tag key may end with '\': '=' follows it, not a separator */
    check_build("m", bs_key, 1, "m a\\=1");
    /* untagged: a trailing '\' is harmless */
    check_build("m\\", NULL, 0, "m\\");

    /* max_bytes counts escapes and is inclusive; max_tags is inclusive */
    Buf b;
    buf_init(&b);
    assert_int_equal(series_key_build(slice_cstr("m"), ok, 3, 3, 13, &b, NULL), TS_OK);
    assert_int_equal(b.n, 13);
    buf_clear(&b);
    assert_int_equal(series_key_build(slice_cstr("a b"), NULL, 0, 0, 3, &b, NULL), TS_ERR_LIMIT);
    assert_int_equal(series_key_build(slice_cstr("a b"), NULL, 0, 0, 4, &b, NULL), TS_OK);
    assert_memory_equal(b.p, "a\\ b", 4);
    buf_deinit(&b);
}

static void test_build_appends(void **state)
{
    Buf b;
    SeriesTag t[] = {tag("h", "1")};
    buf_init(&b);
    buf_puts(&b, "x|");
    assert_int_equal(series_key_build(slice_cstr("m"), t, 1, 32, 5, &b, NULL), TS_OK);
    assert_int_equal(b.n, 7);
    assert_memory_equal(b.p, "x|m h=1", 7);
    buf_deinit(&b);
}

static void test_build_hard_cap(void **state)
{
    static SeriesTag many[SERIES_KEY_TAGS_MAX + 1];
    static char names[SERIES_KEY_TAGS_MAX + 1][8];
    Buf b;
    buf_init(&b);
    for (size_t i = 0; i <= SERIES_KEY_TAGS_MAX; i++) {
        snprintf(names[i], sizeof(names[i]), "k%03zu", SERIES_KEY_TAGS_MAX - i);
        many[i] = tag(names[i], "v");
    }
    assert_int_equal(series_key_build(slice_cstr("m"), many, SERIES_KEY_TAGS_MAX + 1, SIZE_MAX,
                                      SIZE_MAX, &b, NULL),
                     TS_ERR_LIMIT);
    assert_int_equal(
        series_key_build(slice_cstr("m"), many, SERIES_KEY_TAGS_MAX, SIZE_MAX, SIZE_MAX, &b, NULL),
        TS_OK);
    /* reversed input comes out sorted */
    assert_memory_equal(b.p, "m k001=v k002=v", 15);
    buf_deinit(&b);
}

static void test_split(void **state)
{
    Slice metric;
    SeriesTag t[4];
    size_t n = 99;
    TsError err;
    Slice key = slice_cstr("my\\ m a=1 b\\ c=x\\ y e= q=r=s");

    /* cap 4, 4 tags */
    assert_int_equal(series_key_split(key, &metric, t, 4, &n, &err), TS_OK);
    assert_int_equal(n, 4);
    assert_true(slice_eq_cstr(metric, "my\\ m"));
    assert_true(slice_eq_cstr(t[0].key, "a") && slice_eq_cstr(t[0].value, "1"));
    assert_true(slice_eq_cstr(t[1].key, "b\\ c") && slice_eq_cstr(t[1].value, "x\\ y"));
    assert_true(slice_eq_cstr(t[2].key, "e") && slice_eq_cstr(t[2].value, ""));
    assert_true(slice_eq_cstr(t[3].key, "q") && slice_eq_cstr(t[3].value, "r=s"));
    assert_ptr_equal(metric.p, key.p); /* slices point into the key */

    assert_int_equal(series_key_split(key, &metric, t, 3, &n, &err), TS_ERR_LIMIT);
    assert_int_equal(err.pos, 23);

    assert_int_equal(series_key_split(slice_cstr("a.b.c"), &metric, t, 0, &n, &err), TS_OK);
    assert_int_equal(n, 0);
    assert_true(slice_eq_cstr(metric, "a.b.c"));
}

static void check_split_err(const char *key, size_t want_pos, const char *want_msg)
{
    Slice metric;
    SeriesTag t[4];
    size_t n = 99;
    TsError err;
    assert_int_equal(series_key_split(slice_cstr(key), &metric, t, 4, &n, &err), TS_ERR_PROTO);
    assert_int_equal(n, 0);
    assert_int_equal(err.pos, want_pos);
    assert_string_equal(err.msg, want_msg);
}

static void test_split_errors(void **state)
{
    check_split_err("", 0, "empty series key");
    check_split_err(" a=b", 0, "empty metric in series key");
    check_split_err("m  a=b", 2, "empty tag in series key");
    check_split_err("m a=b ", 6, "empty tag in series key");
    check_split_err("m a", 2, "tag without '=' in series key");
    check_split_err("m =b", 2, "empty tag key in series key");
}

/* Deterministic generator for the property test. */
static uint32_t rng_next(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static size_t gen_component(uint32_t *s, char *dst, size_t cap)
{
    static const char alphabet[] = "ab \\=.~;";
    size_t n = rng_next(s) % cap;
    for (size_t i = 0; i < n; i++)
        dst[i] = alphabet[rng_next(s) % (sizeof(alphabet) - 1)];
    return n;
}

static void test_round_trip(void **state)
{
    uint32_t seed = 12345;
    size_t built = 0;
    Buf k1;
    Buf k2;
    buf_init(&k1);
    buf_init(&k2);
    for (int iter = 0; iter < 20000; iter++) {
        char comp[9][6];
        SeriesTag in[4];
        size_t ntags = rng_next(&seed) % 5;
        size_t mlen = gen_component(&seed, comp[8], sizeof(comp[8]));
        for (size_t i = 0; i < ntags; i++) {
            size_t kl = gen_component(&seed, comp[2 * i], sizeof(comp[0]));
            size_t vl = gen_component(&seed, comp[2 * i + 1], sizeof(comp[0]));
            in[i].key = slice_make(comp[2 * i], kl);
            in[i].value = slice_make(comp[2 * i + 1], vl);
        }
        buf_clear(&k1);
        if (series_key_build(slice_make(comp[8], mlen), in, ntags, 4, BIG, &k1, NULL) != TS_OK)
            continue;
        built++;

        Slice metric;
        SeriesTag out[4];
        size_t n = 0;
        Slice key = slice_make(k1.p, k1.n);
        assert_int_equal(series_key_split(key, &metric, out, 4, &n, NULL), TS_OK);
        assert_int_equal(n, ntags);
        buf_clear(&k2);
        assert_int_equal(series_key_build(metric, out, n, 4, BIG, &k2, NULL), TS_OK);
        assert_int_equal(k2.n, k1.n);
        assert_memory_equal(k2.p, k1.p, k1.n);
        /* split keeps keys in non-decreasing (escaped) order */
        for (size_t i = 1; i < n; i++) {
            size_t m = out[i - 1].key.n < out[i].key.n ? out[i - 1].key.n : out[i].key.n;
            int c = m ? memcmp(out[i - 1].key.p, out[i].key.p, m) : 0;
            assert_true(c < 0 || (c == 0 && out[i - 1].key.n <= out[i].key.n));
        }
    }
    assert_true(built > 3000); /* the generator must exercise the success path */
    buf_deinit(&k1);
    buf_deinit(&k2);
}

static void check_graphite(const char *key, const char *want)
{
    Buf b;
    buf_init(&b);
    buf_puts(&b, ">");
    series_key_to_graphite(slice_cstr(key), &b);
    assert_int_equal(b.n, strlen(want) + 1);
    assert_memory_equal(b.p + 1, want, b.n - 1);
    buf_deinit(&b);
}

static void test_to_graphite(void **state)
{
    check_graphite("a.b.c", "a.b.c");
    check_graphite("cpu dc=x host=a", "cpu;dc=x;host=a");
    /* graphite sorts the "k=v" strings: "a-b=1" < "a=2" because '-' < '=' */
    check_graphite("m a=2 a-b=1", "m;a-b=1;a=2");
    check_graphite("m host=b host=a", "m;host=a;host=b");
    check_graphite("my\\ m k\\ k=v\\ v", "my m;k k=v v");
    check_graphite("esc\\ only", "esc\\ only"); /* untagged: unchanged */
    check_graphite("bad host=", "bad;host=");
    check_graphite("m  broken", "m  broken"); /* not canonical: unchanged */
    check_graphite("", "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_sorted),
        cmocka_unit_test(test_build_prefix_first),
        cmocka_unit_test(test_build_duplicates_stable),
        cmocka_unit_test(test_build_escapes),
        cmocka_unit_test(test_build_errors),
        cmocka_unit_test(test_build_appends),
        cmocka_unit_test(test_build_hard_cap),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_split_errors),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_to_graphite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
