/*
 * Unit tests for index/glob: Graphite segment matching (wildcards, classes, braces), the
 * brace-aware splitter, bounded work on hostile patterns, and a randomized comparison against a
 * reference built from brace expansion plus the C library's fnmatch(3).
 */
#include "index/glob.h"
#include "core/status.h"

#include <fnmatch.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

static bool gm(const char *pat, const char *text)
{
    return glob_match(slice_cstr(pat), slice_cstr(text));
}

static void test_literal_and_wildcards(void **state)
{
    (void)state;
    assert_true(gm("cpu", "cpu"));
    assert_false(gm("cpu", "cpu0"));
    assert_false(gm("cpu", "cp"));
    assert_true(gm("", ""));
    assert_false(gm("", "a"));
    assert_true(gm("*", ""));
    assert_true(gm("*", "anything.at.all"));
    assert_true(gm("c*", "cpu"));
    assert_true(gm("*u", "cpu"));
    assert_true(gm("c*u", "cu"));
    assert_false(gm("c*u", "cpux"));
    assert_true(gm("*p*", "cpu"));
    assert_true(gm("**", "x"));
    assert_true(gm("?", "x"));
    assert_false(gm("?", ""));
    assert_false(gm("?", "xy"));
    assert_true(gm("c?u", "cpu"));
    assert_true(gm("web*-??", "web-front-01"));
    assert_false(gm("web*-??", "web-front-1"));
    assert_true(gm("a*b*c", "aXXbYYbZc"));
    assert_false(gm("a*b*c", "aXXbYYbZ"));
    /* No escapes: a backslash is literal. */
    assert_true(gm("a\\*", "a\\xyz"));
    assert_false(gm("a\\*", "a*"));
    assert_true(gm("CPU", "CPU"));
    assert_false(gm("CPU", "cpu"));
}

static void test_classes(void **state)
{
    (void)state;
    assert_true(gm("[abc]", "b"));
    assert_false(gm("[abc]", "d"));
    assert_false(gm("[abc]", "ab"));
    assert_true(gm("web[0-9]", "web7"));
    assert_false(gm("web[0-9]", "webx"));
    assert_true(gm("[a-cx-z]", "y"));
    assert_false(gm("[a-cx-z]", "m"));
    assert_true(gm("[!a]", "b"));
    assert_false(gm("[!a]", "a"));
    assert_true(gm("[^a]", "b"));
    assert_false(gm("[^a]", "a"));
    assert_true(gm("[!0-9]x", "ax"));
    assert_false(gm("[!0-9]x", "5x"));
    /* ']' first is a member; '-' last is literal. */
    assert_true(gm("[]a]", "]"));
    assert_true(gm("[]a]", "a"));
    assert_true(gm("[!]]", "x"));
    assert_false(gm("[!]]", "]"));
    assert_true(gm("[a-]", "-"));
    /* A '[' with no closing ']' is literal. */
    assert_true(gm("a[b", "a[b"));
    assert_false(gm("a[b", "ab"));
    assert_true(gm("[", "["));
    /* Braces and commas inside a class are members. */
    assert_true(gm("[{,}]", ","));
    assert_true(gm("x{[,],y}", "x,"));
    assert_true(gm("x{[,],y}", "xy"));
    /* Bytewise, including high bytes. */
    assert_true(gm("[\x80-\xff]", "\xc3"));
}

static void test_braces(void **state)
{
    (void)state;
    assert_true(gm("{a,b}", "a"));
    assert_true(gm("{a,b}", "b"));
    assert_false(gm("{a,b}", "c"));
    assert_false(gm("{a,b}", "ab"));
    assert_true(gm("web{1,2,10}", "web10"));
    assert_false(gm("web{1,2,10}", "web3"));
    assert_true(gm("{cpu,mem}*", "memory"));
    assert_true(gm("*{.user,.sys}", "x.sys"));
    assert_true(gm("{a,b}{c,d}", "bd"));
    assert_false(gm("{a,b}{c,d}", "bb"));
    /* Nested, with wildcards inside alternatives. */
    assert_true(gm("{a{1,2},b*}", "a2"));
    assert_true(gm("{a{1,2},b*}", "bzz"));
    assert_false(gm("{a{1,2},b*}", "a3"));
    assert_true(gm("{x,[0-9]?}", "5q"));
    /* Empty alternatives and empty groups. */
    assert_true(gm("a{,b}", "a"));
    assert_true(gm("a{,b}", "ab"));
    assert_true(gm("a{}b", "ab"));
    assert_true(gm("{}", ""));
    /* Unmatched braces and stray commas are literal. */
    assert_true(gm("a{b", "a{b"));
    assert_true(gm("a}b", "a}b"));
    assert_true(gm("a,b", "a,b"));
    assert_true(gm("{a,{b}", "{a,b"));
    assert_false(gm("{a,{b}", "a"));
    assert_true(gm("{a,b}}", "a}"));
}

static void test_has_magic(void **state)
{
    (void)state;
    assert_false(glob_has_magic(slice_cstr("servers")));
    assert_false(glob_has_magic(slice_cstr("a]b}c,d\\")));
    assert_true(glob_has_magic(slice_cstr("a*")));
    assert_true(glob_has_magic(slice_cstr("a?")));
    assert_true(glob_has_magic(slice_cstr("a[b]")));
    assert_true(glob_has_magic(slice_cstr("{a}")));
}

static void expect_split(const char *pat, size_t n, const char *const *want)
{
    Slice segs[16];
    size_t got = 99;
    assert_int_equal(glob_split(slice_cstr(pat), segs, 16, &got), TS_OK);
    assert_int_equal(got, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(segs[i].n, strlen(want[i]));
        assert_memory_equal(segs[i].n ? segs[i].p : (const uint8_t *)"", want[i], segs[i].n);
    }
}

static void test_split(void **state)
{
    (void)state;
    expect_split("servers.web1.cpu", 3, (const char *const[]){"servers", "web1", "cpu"});
    expect_split("a.{b.c,d}.e", 3, (const char *const[]){"a", "{b.c,d}", "e"});
    expect_split("a.{b,{c.d,e}}.f*", 3, (const char *const[]){"a", "{b,{c.d,e}}", "f*"});
    expect_split("", 1, (const char *const[]){""});
    expect_split("a..b", 3, (const char *const[]){"a", "", "b"});
    expect_split("a.", 2, (const char *const[]){"a", ""});
    expect_split("a[.]b.c", 2, (const char *const[]){"a[.]b", "c"});
    /* An unmatched '{' does not swallow the dots after it. */
    expect_split("a{.b.c", 3, (const char *const[]){"a{", "b", "c"});
    expect_split("a}.b", 2, (const char *const[]){"a}", "b"});

    Slice segs[2];
    size_t n = 99;
    assert_int_equal(glob_split(slice_cstr("a.b.c"), segs, 2, &n), TS_ERR_LIMIT);
    assert_int_equal(n, 0);
    assert_int_equal(glob_split(slice_cstr("a.b"), segs, 2, &n), TS_OK);
    assert_int_equal(n, 2);
    assert_int_equal(glob_split(slice_make(NULL, 0), segs, 2, &n), TS_OK);
    assert_int_equal(n, 1);
    assert_int_equal(segs[0].n, 0);
}

static void test_limits(void **state)
{
    (void)state;
    size_t m = GLOB_PATTERN_MAX + 1;
    char *p = malloc(m + 1);
    memset(p, 'a', m);
    p[m] = 0;
    assert_false(gm(p, p));
    Slice seg;
    size_t n = 9;
    assert_int_equal(glob_split(slice_make(p, m), &seg, 1, &n), TS_ERR_LIMIT);
    /* Exactly the maximum still works, through the heap path. */
    p[m - 1] = 0;
    p[0] = '*';
    assert_true(glob_match(slice_make(p, m - 1), slice_make(p + 1, m - 2)));
    free(p);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Patterns that blow up backtracking or brace-expanding matchers. Generous bound (ASan). */
static void test_hostile(void **state)
{
    (void)state;
    char *pat = malloc(GLOB_PATTERN_MAX + 1);
    char *text = malloc(4096 + 1);
    double t0 = now_s();

    /* "*a*a*a...*b" against "aaaa...": exponential for naive backtracking. */
    size_t m = 0;
    for (int i = 0; i < 600; i++) {
        pat[m++] = '*';
        pat[m++] = 'a';
    }
    pat[m++] = 'b';
    memset(text, 'a', 2000);
    assert_false(glob_match(slice_make(pat, m), slice_make(text, 2000)));

    /* 400 groups of {a,b}: 2^400 expansions. */
    m = 0;
    for (int i = 0; i < 400; i++) {
        memcpy(pat + m, "{a,b}", 5);
        m += 5;
    }
    memset(text, 'b', 400);
    assert_true(glob_match(slice_make(pat, m), slice_make(text, 400)));
    text[399] = 'c';
    assert_false(glob_match(slice_make(pat, m), slice_make(text, 400)));

    /* Deep nesting {{{{...x...}}}} and many empty alternatives. */
    m = 0;
    for (int i = 0; i < 3000; i++)
        pat[m++] = '{';
    pat[m++] = 'x';
    for (int i = 0; i < 3000; i++)
        pat[m++] = '}';
    assert_true(glob_match(slice_make(pat, m), slice_cstr("x")));
    assert_false(glob_match(slice_make(pat, m), slice_cstr("xx")));
    m = 0;
    pat[m++] = '{';
    for (int i = 0; i < 5000; i++)
        pat[m++] = ',';
    pat[m++] = '}';
    pat[m++] = '*';
    memset(text, 'z', 1000);
    assert_true(glob_match(slice_make(pat, m), slice_make(text, 1000)));

    double dt = now_s() - t0;
    print_message("hostile patterns: %.3f s\n", dt);
    assert_true(dt < 20.0);
    free(pat);
    free(text);
}

/* ---- randomized comparison with brace expansion + fnmatch(3) ---------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

static void gen_seq(char *out, size_t *m, size_t cap, int depth);

static void gen_atom(char *out, size_t *m, size_t cap, int depth)
{
    static const char *const classes[] = {"[ab]", "[!a]", "[^b]", "[a-b]", "[]a]", "[!]]", "[b-c]"};
    static const char *const strays[] = {"{", "}", ",", "["};
    const char *s = NULL;
    char one[2] = {0, 0};
    uint32_t k = rnd(20);
    if (k < 8) {
        one[0] = "abc"[rnd(3)];
        s = one;
    } else if (k < 11) {
        s = "*";
    } else if (k < 13) {
        s = "?";
    } else if (k < 15) {
        s = classes[rnd(7)];
    } else if (k < 16) {
        s = strays[rnd(4)];
    } else if (depth < 3 && *m + 2 < cap) {
        out[(*m)++] = '{';
        uint32_t alts = 1 + rnd(3);
        for (uint32_t a = 0; a < alts; a++) {
            if (a && *m + 1 < cap)
                out[(*m)++] = ',';
            gen_seq(out, m, cap, depth + 1);
        }
        if (*m < cap)
            out[(*m)++] = '}';
        return;
    } else {
        s = "a";
    }
    size_t n = strlen(s);
    if (*m + n <= cap) {
        memcpy(out + *m, s, n);
        *m += n;
    }
}

static void gen_seq(char *out, size_t *m, size_t cap, int depth)
{
    uint32_t n = rnd(depth ? 3 : 5);
    for (uint32_t i = 0; i < n; i++)
        gen_atom(out, m, cap, depth);
}

/* Same class rule as glob.c: position of the closing ']' or SIZE_MAX. */
static size_t ref_class_end(const char *p, size_t m, size_t i)
{
    size_t j = i + 1;
    if (j < m && (p[j] == '!' || p[j] == '^'))
        j++;
    if (j < m && p[j] == ']')
        j++;
    while (j < m && p[j] != ']')
        j++;
    return j < m ? j : SIZE_MAX;
}

/* Brace-expand p (innermost-first pairing) and fnmatch each variant against text. */
static bool ref_match(const char *p, const char *text, int budget)
{
    size_t m = strlen(p);
    size_t stack[256], top = 0, open = SIZE_MAX, close = SIZE_MAX;
    for (size_t i = 0; i < m && open == SIZE_MAX; i++) {
        if (p[i] == '[') {
            size_t e = ref_class_end(p, m, i);
            if (e != SIZE_MAX)
                i = e;
        } else if (p[i] == '{') {
            stack[top++] = i;
        } else if (p[i] == '}' && top) {
            /* The first group to close is innermost: expand it first. */
            open = stack[--top];
            close = i;
        }
    }
    if (open == SIZE_MAX || budget <= 0) {
        char pat[1024];
        snprintf(pat, sizeof(pat), "%s", p);
        /* glibc fnmatch treats [^...] as negation too; '!' and '^' both supported. */
        return fnmatch(pat, text, FNM_NOESCAPE) == 0;
    }
    /* Alternatives of group (open, close): split at its top-level commas. */
    size_t start = open + 1, depth = 0;
    for (size_t i = open + 1; i <= close; i++) {
        bool split = i == close;
        if (!split) {
            if (p[i] == '[') {
                size_t e = ref_class_end(p, m, i);
                if (e != SIZE_MAX && e < close) {
                    i = e;
                    continue;
                }
            } else if (p[i] == '{') {
                depth++;
            } else if (p[i] == '}' && depth) {
                depth--;
            } else if (p[i] == ',' && depth == 0) {
                split = true;
            }
        }
        if (split) {
            char v[1024];
            snprintf(v, sizeof(v), "%.*s%.*s%s", (int)open, p, (int)(i - start), p + start,
                     p + close + 1);
            if (ref_match(v, text, budget - 1))
                return true;
            start = i + 1;
        }
    }
    return false;
}

static void test_random_vs_reference(void **state)
{
    (void)state;
    int compared = 0;
    for (int iter = 0; iter < 20000; iter++) {
        char pat[200];
        size_t m = 0;
        gen_seq(pat, &m, sizeof(pat) - 1, 0);
        pat[m] = 0;
        /* The first closed group is always innermost, so the reference and the matcher pair
           braces the same way as long as stray braces do not interleave with groups. */
        bool stray = false;
        int depth = 0;
        for (size_t i = 0; i < m; i++) {
            if (pat[i] == '[') {
                size_t e = ref_class_end(pat, m, i);
                if (e != SIZE_MAX) {
                    i = e;
                    continue;
                }
            }
            if (pat[i] == '{')
                depth++;
            if (pat[i] == '}' && --depth < 0)
                stray = true;
        }
        if (depth != 0 || stray)
            continue;
        for (int t = 0; t < 6; t++) {
            char text[12];
            size_t tn = rnd(7);
            for (size_t i = 0; i < tn; i++)
                text[i] = "abc]{,"[rnd(t < 3 ? 3 : 6)];
            text[tn] = 0;
            bool want = ref_match(pat, text, 64);
            bool got = glob_match(slice_make(pat, m), slice_make(text, tn));
            if (want != got)
                fail_msg("pattern '%s' text '%s': reference %d glob %d", pat, text, want, got);
            compared++;
        }
    }
    print_message("compared %d pattern/text pairs with the reference\n", compared);
    assert_true(compared > 10000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal_and_wildcards),
        cmocka_unit_test(test_classes),
        cmocka_unit_test(test_braces),
        cmocka_unit_test(test_has_magic),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_random_vs_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
