/*
 * Unit tests for index/series_index: interning and dense ids, insert conflicts, the max_series
 * cap, tag queries (series_index_find), suggest helpers, Graphite globbing over the name tree,
 * the series file (round trip, torn tail at every byte of the last record, corrupt header),
 * concurrent intern/lookup from 4 threads, and a 1M-series memory measurement.
 */
#include "index/series_index.h"
#include "core/alloc.h"
#include "core/status.h"

#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static uint64_t intern_ok(SeriesIndex *ix, const char *key, bool want_created)
{
    uint64_t id = 0;
    bool created = !want_created;
    assert_int_equal(series_index_intern(ix, slice_cstr(key), &id, &created), TS_OK);
    assert_int_equal(created, want_created);
    return id;
}

static void assert_key(SeriesIndex *ix, uint64_t id, const char *want)
{
    Slice k;
    assert_int_equal(series_index_key(ix, id, &k), TS_OK);
    assert_true(slice_eq_cstr(k, want));
}

static void test_intern_lookup(void **state)
{
    (void)state;
    SeriesIndex *ix = series_index_new(0);
    uint64_t id;
    assert_int_equal(series_index_lookup(ix, slice_cstr("cpu host=a"), &id), TS_ERR_NOTFOUND);
    assert_int_equal(intern_ok(ix, "cpu host=a", true), SERIES_ID_FIRST);
    assert_int_equal(intern_ok(ix, "cpu host=b", true), SERIES_ID_FIRST + 1);
    assert_int_equal(intern_ok(ix, "servers.web1.cpu", true), SERIES_ID_FIRST + 2);
    assert_int_equal(intern_ok(ix, "cpu host=a", false), SERIES_ID_FIRST);
    assert_int_equal(series_index_lookup(ix, slice_cstr("cpu host=b"), &id), TS_OK);
    assert_int_equal(id, SERIES_ID_FIRST + 1);
    assert_int_equal(series_index_lookup(ix, slice_cstr("cpu host=c"), &id), TS_ERR_NOTFOUND);
    assert_int_equal(series_index_lookup(ix, slice_cstr(""), &id), TS_ERR_NOTFOUND);
    assert_int_equal(series_index_count(ix), 3);
    assert_int_equal(series_index_next_id(ix), SERIES_ID_FIRST + 3);
    assert_key(ix, SERIES_ID_FIRST + 2, "servers.web1.cpu");
    Slice k;
    assert_int_equal(series_index_key(ix, SERIES_ID_FIRST + 3, &k), TS_ERR_NOTFOUND);
    assert_int_equal(series_index_key(ix, 5, &k), TS_ERR_NOTFOUND);
    assert_int_equal(series_index_key(ix, UINT64_MAX, &k), TS_ERR_NOTFOUND);

    /* Borrowed keys stay valid while many more series are added (chunks never move). */
    Slice first;
    assert_int_equal(series_index_key(ix, SERIES_ID_FIRST, &first), TS_OK);
    char buf[64];
    for (int i = 0; i < 20000; i++) {
        snprintf(buf, sizeof(buf), "m%d host=h%d", i, i % 7);
        assert_int_equal(intern_ok(ix, buf, true), SERIES_ID_FIRST + 3 + (uint64_t)i);
    }
    assert_true(slice_eq_cstr(first, "cpu host=a"));
    assert_key(ix, SERIES_ID_FIRST + 3 + 12345, "m12345 host=h4");

    /* Bad keys. */
    bool created;
    const char *bad[] = {"", " host=a", "cpu ", "cpu  host=a", "cpu host", "cpu =a", "cpu host=a "};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(series_index_intern(ix, slice_cstr(bad[i]), &id, &created), TS_ERR_PROTO);
    char *big = malloc(SERIES_KEY_MAX + 2);
    memset(big, 'x', SERIES_KEY_MAX + 1);
    big[SERIES_KEY_MAX + 1] = 0;
    assert_int_equal(series_index_intern(ix, slice_cstr(big), &id, &created), TS_ERR_LIMIT);
    big[SERIES_KEY_MAX] = 0;
    assert_int_equal(series_index_intern(ix, slice_cstr(big), &id, &created), TS_OK);
    assert_true(created);
    free(big);
    /* An empty tag value and escaped spaces are fine. */
    intern_ok(ix, "cpu host=", true);
    intern_ok(ix, "my\\ metric host=a\\ b", true);
    assert_int_equal(series_index_rejected(ix), 0);
    series_index_free(ix);
    series_index_free(NULL);
}

static void test_insert(void **state)
{
    (void)state;
    SeriesIndex *ix = series_index_new(2); /* the cap does not apply to insert */
    assert_int_equal(series_index_insert(ix, slice_cstr("b"), SERIES_ID_FIRST + 5), TS_OK);
    assert_int_equal(series_index_insert(ix, slice_cstr("a"), SERIES_ID_FIRST + 2), TS_OK);
    assert_int_equal(series_index_insert(ix, slice_cstr("c"), SERIES_ID_FIRST + 9), TS_OK);
    assert_int_equal(series_index_next_id(ix), SERIES_ID_FIRST + 10);
    assert_int_equal(series_index_count(ix), 3);
    /* Same key, same id: no-op. */
    assert_int_equal(series_index_insert(ix, slice_cstr("a"), SERIES_ID_FIRST + 2), TS_OK);
    assert_int_equal(series_index_count(ix), 3);
    /* Key known under another id; id taken by another key; ids out of range. */
    assert_int_equal(series_index_insert(ix, slice_cstr("a"), SERIES_ID_FIRST + 3), TS_ERR_CORRUPT);
    assert_int_equal(series_index_insert(ix, slice_cstr("z"), SERIES_ID_FIRST + 5), TS_ERR_CORRUPT);
    assert_int_equal(series_index_insert(ix, slice_cstr("z"), SERIES_ID_FIRST - 1), TS_ERR_CORRUPT);
    assert_int_equal(series_index_insert(ix, slice_cstr("z"), 0), TS_ERR_CORRUPT);
    assert_int_equal(
        series_index_insert(ix, slice_cstr("z"), (uint64_t)SERIES_ID_FIRST + SERIES_ID_SPAN),
        TS_ERR_CORRUPT);
    assert_int_equal(series_index_insert(ix, slice_cstr("z w"), SERIES_ID_FIRST + 7), TS_ERR_PROTO);
    /* Holes are unknown ids; intern continues after the maximum, here refused by the cap. */
    Slice k;
    assert_int_equal(series_index_key(ix, SERIES_ID_FIRST + 3, &k), TS_ERR_NOTFOUND);
    assert_key(ix, SERIES_ID_FIRST + 9, "c");
    uint64_t id;
    bool created;
    assert_int_equal(series_index_intern(ix, slice_cstr("d"), &id, &created), TS_ERR_LIMIT);
    assert_int_equal(series_index_intern(ix, slice_cstr("a"), &id, &created), TS_OK);
    assert_int_equal(id, SERIES_ID_FIRST + 2);
    series_index_free(ix);

    ix = series_index_new(0);
    assert_int_equal(series_index_insert(ix, slice_cstr("x"), SERIES_ID_FIRST + 1), TS_OK);
    assert_int_equal(intern_ok(ix, "y", true), SERIES_ID_FIRST + 2);
    series_index_free(ix);
}

static void test_max_series(void **state)
{
    (void)state;
    SeriesIndex *ix = series_index_new(3);
    intern_ok(ix, "a", true);
    intern_ok(ix, "b", true);
    intern_ok(ix, "c", true);
    uint64_t id = 0;
    bool created = true;
    assert_int_equal(series_index_intern(ix, slice_cstr("d"), &id, &created), TS_ERR_LIMIT);
    assert_false(created);
    assert_int_equal(series_index_intern(ix, slice_cstr("e"), &id, &created), TS_ERR_LIMIT);
    assert_int_equal(series_index_rejected(ix), 2);
    assert_int_equal(intern_ok(ix, "b", false), SERIES_ID_FIRST + 1);
    assert_int_equal(series_index_count(ix), 3);
    assert_int_equal(series_index_next_id(ix), SERIES_ID_FIRST + 3);
    assert_int_equal(series_index_lookup(ix, slice_cstr("d"), &id), TS_ERR_NOTFOUND);
    series_index_free(ix);
}

/* Run find and compare with the expected relative ids (terminated by -1). */
static void expect_find(SeriesIndex *ix, const char *metric, const SeriesFilter *f, size_t nf,
                        const int *want)
{
    uint64_t *ids = NULL;
    size_t n = 99;
    assert_int_equal(series_index_find(ix, slice_cstr(metric), f, nf, &ids, &n), TS_OK);
    size_t nw = 0;
    while (want[nw] >= 0)
        nw++;
    if (n != nw)
        fail_msg("find %s: got %zu ids, want %zu", metric, n, nw);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ids[i], SERIES_ID_FIRST + (uint64_t)want[i]);
    ts_free(ids);
}

static SeriesIndex *tag_fixture(void)
{
    SeriesIndex *ix = series_index_new(0);
    intern_ok(ix, "cpu dc=x host=a", true);         /* 0 */
    intern_ok(ix, "cpu dc=x host=b", true);         /* 1 */
    intern_ok(ix, "cpu dc=y host=c", true);         /* 2 */
    intern_ok(ix, "mem dc=x host=a", true);         /* 3 */
    intern_ok(ix, "cpu host=d", true);              /* 4 */
    intern_ok(ix, "servers.web1.cpu", true);        /* 5 */
    intern_ok(ix, "my\\ metric k=v\\ 1", true);     /* 6 */
    intern_ok(ix, "cpu dc=z host=e rack=r1", true); /* 7 */
    return ix;
}

static void test_find(void **state)
{
    (void)state;
    SeriesIndex *ix = tag_fixture();
    Slice x = slice_cstr("x"), y = slice_cstr("y"), a = slice_cstr("a"), q = slice_cstr("q");
    Slice xy[] = {x, y}, xq[] = {x, q}, qq[] = {q, slice_cstr("w")};

    expect_find(ix, "cpu", NULL, 0, (const int[]){0, 1, 2, 4, 7, -1});
    expect_find(ix, "mem", NULL, 0, (const int[]){3, -1});
    expect_find(ix, "servers.web1.cpu", NULL, 0, (const int[]){5, -1});
    expect_find(ix, "nope", NULL, 0, (const int[]){-1});
    expect_find(ix, "", NULL, 0, (const int[]){0, 1, 2, 3, 4, 5, 6, 7, -1});

    SeriesFilter dcx = {slice_cstr("dc"), &x, 1};
    expect_find(ix, "cpu", &dcx, 1, (const int[]){0, 1, -1});
    expect_find(ix, "", &dcx, 1, (const int[]){0, 1, 3, -1});
    SeriesFilter two[] = {{slice_cstr("dc"), &x, 1}, {slice_cstr("host"), &a, 1}};
    expect_find(ix, "", two, 2, (const int[]){0, 3, -1});
    expect_find(ix, "cpu", two, 2, (const int[]){0, -1});
    /* OR over values, one of which does not exist. */
    SeriesFilter dcxy = {slice_cstr("dc"), xy, 2};
    expect_find(ix, "cpu", &dcxy, 1, (const int[]){0, 1, 2, -1});
    SeriesFilter dcxq = {slice_cstr("dc"), xq, 2};
    expect_find(ix, "cpu", &dcxq, 1, (const int[]){0, 1, -1});
    SeriesFilter dcqq = {slice_cstr("dc"), qq, 2};
    expect_find(ix, "cpu", &dcqq, 1, (const int[]){-1});
    /* Any value: the tag must be present. */
    SeriesFilter dcany = {slice_cstr("dc"), NULL, 0};
    expect_find(ix, "cpu", &dcany, 1, (const int[]){0, 1, 2, 7, -1});
    expect_find(ix, "", &dcany, 1, (const int[]){0, 1, 2, 3, 7, -1});
    SeriesFilter rack[] = {{slice_cstr("rack"), NULL, 0}, {slice_cstr("host"), NULL, 0}};
    expect_find(ix, "", rack, 2, (const int[]){7, -1});
    SeriesFilter none_tag = {slice_cstr("zone"), NULL, 0};
    expect_find(ix, "cpu", &none_tag, 1, (const int[]){-1});
    SeriesFilter none_val = {slice_cstr("dc"), &q, 1};
    expect_find(ix, "cpu", &none_val, 1, (const int[]){-1});
    /* A value that exists only under another tag key does not match. */
    SeriesFilter wrong_key = {slice_cstr("host"), &x, 1};
    expect_find(ix, "", &wrong_key, 1, (const int[]){-1});
    /* Escaped spaces: queries use unescaped names. */
    Slice v1 = slice_cstr("v 1");
    SeriesFilter esc = {slice_cstr("k"), &v1, 1};
    expect_find(ix, "my metric", &esc, 1, (const int[]){6, -1});
    expect_find(ix, "my\\ metric", NULL, 0, (const int[]){-1});
    /* A plain name spelled like a tagged metric is one more series of that metric. */
    intern_ok(ix, "cpu", true); /* 8 */
    expect_find(ix, "cpu", NULL, 0, (const int[]){0, 1, 2, 4, 7, 8, -1});
    expect_find(ix, "cpu", &dcx, 1, (const int[]){0, 1, -1});
    expect_find(ix, "", &dcany, 1, (const int[]){0, 1, 2, 3, 7, -1});
    series_index_free(ix);

    /* Postings stay sorted when series are inserted out of id order. */
    ix = series_index_new(0);
    assert_int_equal(series_index_insert(ix, slice_cstr("m t=1"), SERIES_ID_FIRST + 7), TS_OK);
    assert_int_equal(series_index_insert(ix, slice_cstr("m t=2"), SERIES_ID_FIRST + 3), TS_OK);
    assert_int_equal(series_index_insert(ix, slice_cstr("m t=3"), SERIES_ID_FIRST + 5), TS_OK);
    assert_int_equal(series_index_insert(ix, slice_cstr("m t=4"), SERIES_ID_FIRST + 0), TS_OK);
    expect_find(ix, "m", NULL, 0, (const int[]){0, 3, 5, 7, -1});
    Slice v23[] = {slice_cstr("3"), slice_cstr("2")};
    SeriesFilter t23 = {slice_cstr("t"), v23, 2};
    expect_find(ix, "m", &t23, 1, (const int[]){3, 5, -1});
    series_index_free(ix);
}

typedef struct Collect {
    char items[64][64]; /* received items */
    int n;              /* how many */
    int stop_after;     /* return 7 after this many (0: never) */
} Collect;

static int collect_fn(void *ctx, Slice s)
{
    Collect *c = ctx;
    assert_true(c->n < 64 && s.n < 64);
    memcpy(c->items[c->n], s.p, s.n);
    c->items[c->n][s.n] = 0;
    c->n++;
    return c->stop_after && c->n >= c->stop_after ? 7 : 0;
}

static void expect_items(const Collect *c, const char *const *want, int n)
{
    if (c->n != n)
        fail_msg("got %d items, want %d (first '%s')", c->n, n, c->n ? c->items[0] : "");
    for (int i = 0; i < n; i++)
        assert_string_equal(c->items[i], want[i]);
}

static void test_suggest(void **state)
{
    (void)state;
    SeriesIndex *ix = tag_fixture();
    intern_ok(ix, "cpu.user host=z", true);
    Collect c;

    memset(&c, 0, sizeof(c));
    assert_int_equal(series_index_metric_names(ix, slice_make(NULL, 0), collect_fn, &c), TS_OK);
    expect_items(
        &c, (const char *const[]){"cpu", "cpu.user", "mem", "my metric", "servers.web1.cpu"}, 5);
    memset(&c, 0, sizeof(c));
    assert_int_equal(series_index_metric_names(ix, slice_cstr("cp"), collect_fn, &c), TS_OK);
    expect_items(&c, (const char *const[]){"cpu", "cpu.user"}, 2);
    memset(&c, 0, sizeof(c));
    c.stop_after = 1;
    assert_int_equal(series_index_metric_names(ix, slice_cstr("cp"), collect_fn, &c), 7);
    assert_int_equal(c.n, 1);

    memset(&c, 0, sizeof(c));
    assert_int_equal(
        series_index_tag_names(ix, slice_cstr("cpu"), slice_make(NULL, 0), collect_fn, &c), TS_OK);
    expect_items(&c, (const char *const[]){"dc", "host", "rack"}, 3);
    memset(&c, 0, sizeof(c));
    assert_int_equal(series_index_tag_names(ix, slice_cstr("cpu"), slice_cstr("h"), collect_fn, &c),
                     TS_OK);
    expect_items(&c, (const char *const[]){"host"}, 1);
    memset(&c, 0, sizeof(c));
    assert_int_equal(
        series_index_tag_names(ix, slice_cstr("mem"), slice_make(NULL, 0), collect_fn, &c), TS_OK);
    expect_items(&c, (const char *const[]){"dc", "host"}, 2);
    memset(&c, 0, sizeof(c));
    assert_int_equal(
        series_index_tag_names(ix, slice_make(NULL, 0), slice_make(NULL, 0), collect_fn, &c),
        TS_OK);
    expect_items(&c, (const char *const[]){"dc", "host", "k", "rack"}, 4);
    memset(&c, 0, sizeof(c));
    assert_int_equal(
        series_index_tag_names(ix, slice_cstr("nope"), slice_make(NULL, 0), collect_fn, &c), TS_OK);
    assert_int_equal(c.n, 0);

    memset(&c, 0, sizeof(c));
    assert_int_equal(series_index_tag_values(ix, slice_cstr("cpu"), slice_cstr("host"),
                                             slice_make(NULL, 0), collect_fn, &c),
                     TS_OK);
    expect_items(&c, (const char *const[]){"a", "b", "c", "d", "e"}, 5);
    memset(&c, 0, sizeof(c));
    assert_int_equal(series_index_tag_values(ix, slice_make(NULL, 0), slice_cstr("host"),
                                             slice_make(NULL, 0), collect_fn, &c),
                     TS_OK);
    expect_items(&c, (const char *const[]){"a", "b", "c", "d", "e", "z"}, 6);
    memset(&c, 0, sizeof(c));
    assert_int_equal(series_index_tag_values(ix, slice_cstr("cpu"), slice_cstr("dc"),
                                             slice_cstr("y"), collect_fn, &c),
                     TS_OK);
    expect_items(&c, (const char *const[]){"y"}, 1);
    memset(&c, 0, sizeof(c));
    assert_int_equal(series_index_tag_values(ix, slice_cstr("my metric"), slice_cstr("k"),
                                             slice_make(NULL, 0), collect_fn, &c),
                     TS_OK);
    expect_items(&c, (const char *const[]){"v 1"}, 1);
    series_index_free(ix);
}

typedef struct GlobOut {
    char lines[64][96]; /* "path L" / "path B" / "path LB" */
    int n;              /* how many */
} GlobOut;

static int glob_fn(void *ctx, Slice path, bool is_leaf, bool has_children)
{
    GlobOut *o = ctx;
    assert_true(o->n < 64 && path.n < 80);
    snprintf(o->lines[o->n++], 96, "%.*s %s%s", (int)path.n, (const char *)path.p,
             is_leaf ? "L" : "", has_children ? "B" : "");
    return 0;
}

static void expect_glob(SeriesIndex *ix, const char *pattern, const char *const *want, int n)
{
    GlobOut o;
    memset(&o, 0, sizeof(o));
    assert_int_equal(series_index_glob(ix, slice_cstr(pattern), glob_fn, &o), TS_OK);
    if (o.n != n)
        fail_msg("glob %s: got %d, want %d (first '%s')", pattern, o.n, n, o.n ? o.lines[0] : "");
    for (int i = 0; i < n; i++)
        assert_string_equal(o.lines[i], want[i]);
}

static int stop_fn(void *ctx, Slice path, bool is_leaf, bool has_children)
{
    (*(int *)ctx)++;
    return 3;
}

static void test_glob_tree(void **state)
{
    (void)state;
    SeriesIndex *ix = series_index_new(0);
    const char *names[] = {"servers.web1.cpu.user", "servers.web1.cpu.system",
                           "servers.web2.cpu.user", "servers.web2.mem",
                           "servers.db1.cpu.user",  "servers.web1",
                           "carbon.agents.a",       "cpu host=a", /* tagged: not in the tree */
                           "servers.web10.cpu.user"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        intern_ok(ix, names[i], true);

    expect_glob(ix, "*", (const char *const[]){"carbon B", "servers B"}, 2);
    expect_glob(ix, "servers.*",
                (const char *const[]){"servers.db1 B", "servers.web1 LB", "servers.web10 B",
                                      "servers.web2 B"},
                4);
    expect_glob(ix, "servers.web1", (const char *const[]){"servers.web1 LB"}, 1);
    expect_glob(ix, "servers.web1.cpu.user", (const char *const[]){"servers.web1.cpu.user L"}, 1);
    expect_glob(ix, "servers.web{1,2}.cpu.u*",
                (const char *const[]){"servers.web1.cpu.user L", "servers.web2.cpu.user L"}, 2);
    expect_glob(ix, "servers.[dw]*.cpu",
                (const char *const[]){"servers.db1.cpu B", "servers.web1.cpu B",
                                      "servers.web10.cpu B", "servers.web2.cpu B"},
                4);
    expect_glob(ix, "servers.web[!1].*",
                (const char *const[]){"servers.web2.cpu B", "servers.web2.mem L"}, 2);
    expect_glob(ix, "servers.web?", (const char *const[]){"servers.web1 LB", "servers.web2 B"}, 2);
    expect_glob(ix, "*.*.cpu.*",
                (const char *const[]){"servers.db1.cpu.user L", "servers.web1.cpu.system L",
                                      "servers.web1.cpu.user L", "servers.web10.cpu.user L",
                                      "servers.web2.cpu.user L"},
                5);
    expect_glob(ix, "{carbon,servers}.{agents,db1}",
                (const char *const[]){"carbon.agents B", "servers.db1 B"}, 2);
    expect_glob(ix, "servers.web1.cpu.user.more", NULL, 0);
    expect_glob(ix, "nothing.*", NULL, 0);
    expect_glob(ix, "cpu*", NULL, 0);
    expect_glob(ix, "servers.{web1.cpu,db1}", (const char *const[]){"servers.db1 B"}, 1);
    expect_glob(ix, "", NULL, 0);

    int calls = 0;
    assert_int_equal(series_index_glob(ix, slice_cstr("servers.*"), stop_fn, &calls), 3);
    assert_int_equal(calls, 1);
    char many[2 * SERIES_GLOB_SEGMENTS_MAX + 8];
    for (int i = 0; i <= SERIES_GLOB_SEGMENTS_MAX; i++) {
        many[2 * i] = 'a';
        many[2 * i + 1] = '.';
    }
    many[2 * SERIES_GLOB_SEGMENTS_MAX + 1] = 0;
    assert_int_equal(series_index_glob(ix, slice_cstr(many), stop_fn, &calls), TS_ERR_LIMIT);
    series_index_free(ix);
}

/* ---- series file ------------------------------------------------------------------------ */

static char tmpdir[64];

static int setup_dir(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_series_index.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static off_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static void copy_prefix(const char *from, const char *to, off_t n)
{
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(in >= 0 && out >= 0);
    char *buf = malloc((size_t)n + 1);
    assert_int_equal(read(in, buf, (size_t)n), n);
    assert_int_equal(write(out, buf, (size_t)n), n);
    free(buf);
    close(in);
    close(out);
}

static void test_persist_roundtrip(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof(path), "%s/series.dat", tmpdir);
    SeriesIndex *ix = series_index_new(0);
    uint64_t upto = 0, dropped = 99;
    TsError err;
    assert_int_equal(series_index_load(ix, path, &dropped, &err), TS_OK); /* missing file */
    assert_int_equal(dropped, 0);
    char key[64];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), i % 2 ? "m%d host=h%d" : "a.b.m%d.x%d", i, i % 13);
        intern_ok(ix, key, true);
    }
    assert_int_equal(series_index_persist(ix, path, 0, &upto, &err), TS_OK);
    assert_int_equal(upto, SERIES_ID_FIRST + 1000);
    for (int i = 1000; i < 1500; i++) {
        snprintf(key, sizeof(key), "later%d", i);
        intern_ok(ix, key, true);
    }
    assert_int_equal(series_index_persist(ix, path, upto, &upto, &err), TS_OK);
    assert_int_equal(upto, SERIES_ID_FIRST + 1500);
    /* Re-persisting an already persisted range adds records that load as no-ops. */
    assert_int_equal(series_index_persist(ix, path, SERIES_ID_FIRST + 1490, &upto, &err), TS_OK);

    SeriesIndex *ix2 = series_index_new(10); /* the cap must not block loading */
    assert_int_equal(series_index_load(ix2, path, &dropped, &err), TS_OK);
    assert_int_equal(dropped, 0);
    assert_int_equal(series_index_count(ix2), 1500);
    assert_int_equal(series_index_next_id(ix2), SERIES_ID_FIRST + 1500);
    for (uint64_t id = SERIES_ID_FIRST; id < SERIES_ID_FIRST + 1500; id++) {
        Slice a, b;
        assert_int_equal(series_index_key(ix, id, &a), TS_OK);
        assert_int_equal(series_index_key(ix2, id, &b), TS_OK);
        assert_true(slice_eq(a, b));
    }
    uint64_t *ids;
    size_t n;
    assert_int_equal(series_index_find(ix2, slice_cstr("m7"), NULL, 0, &ids, &n), TS_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], SERIES_ID_FIRST + 7);
    ts_free(ids);
    GlobOut o;
    memset(&o, 0, sizeof(o));
    assert_int_equal(series_index_glob(ix2, slice_cstr("a.b.m4.*"), glob_fn, &o), TS_OK);
    assert_int_equal(o.n, 1);
    assert_string_equal(o.lines[0], "a.b.m4.x4 L");
    /* Interning continues after the loaded ids; a second persist appends only the new one. */
    SeriesIndex *ix3 = series_index_new(0);
    assert_int_equal(series_index_load(ix3, path, &dropped, &err), TS_OK);
    assert_int_equal(intern_ok(ix3, "brand.new", true), SERIES_ID_FIRST + 1500);
    off_t before = file_size(path);
    assert_int_equal(series_index_persist(ix3, path, upto, &upto, &err), TS_OK);
    assert_int_equal(file_size(path), before + 16 + (off_t)strlen("brand.new"));
    series_index_free(ix3);
    series_index_free(ix2);
    series_index_free(ix);
}

static void test_torn_tail(void **state)
{
    (void)state;
    char path[128], torn[128];
    snprintf(path, sizeof(path), "%s/full.dat", tmpdir);
    snprintf(torn, sizeof(torn), "%s/torn.dat", tmpdir);
    SeriesIndex *ix = series_index_new(0);
    uint64_t upto, dropped;
    TsError err;
    intern_ok(ix, "cpu host=a", true);
    intern_ok(ix, "cpu host=b", true);
    assert_int_equal(series_index_persist(ix, path, 0, &upto, &err), TS_OK);
    off_t good = file_size(path);
    intern_ok(ix, "servers.last.record", true);
    assert_int_equal(series_index_persist(ix, path, upto, &upto, &err), TS_OK);
    off_t full = file_size(path);
    assert_int_equal(full - good, 16 + (off_t)strlen("servers.last.record"));

    for (off_t cut = good; cut < full; cut++) {
        copy_prefix(path, torn, cut);
        SeriesIndex *l = series_index_new(0);
        assert_int_equal(series_index_load(l, torn, &dropped, &err), TS_OK);
        assert_int_equal(dropped, (uint64_t)(cut - good));
        assert_int_equal(series_index_count(l), 2);
        assert_int_equal(file_size(torn), good);
        uint64_t id;
        assert_int_equal(series_index_lookup(l, slice_cstr("cpu host=b"), &id), TS_OK);
        assert_int_equal(id, SERIES_ID_FIRST + 1);
        /* The next persist after the cut writes the lost series again. */
        intern_ok(l, "servers.last.record", true);
        assert_int_equal(series_index_persist(l, torn, SERIES_ID_FIRST + 2, &upto, &err), TS_OK);
        assert_int_equal(file_size(torn), full);
        series_index_free(l);
    }

    /* A flipped byte anywhere in the last record drops exactly that record. */
    for (off_t at = good; at < full; at++) {
        copy_prefix(path, torn, full);
        int fd = open(torn, O_RDWR);
        uint8_t b;
        assert_int_equal(pread(fd, &b, 1, at), 1);
        b ^= 0x20;
        assert_int_equal(pwrite(fd, &b, 1, at), 1);
        close(fd);
        SeriesIndex *l = series_index_new(0);
        assert_int_equal(series_index_load(l, torn, &dropped, &err), TS_OK);
        assert_int_equal(dropped, (uint64_t)(full - good));
        assert_int_equal(series_index_count(l), 2);
        series_index_free(l);
    }

    /* A torn header is cut to an empty file; a wrong complete header is refused, untouched. */
    for (off_t cut = 1; cut < 16; cut++) {
        copy_prefix(path, torn, cut);
        SeriesIndex *l = series_index_new(0);
        assert_int_equal(series_index_load(l, torn, &dropped, &err), TS_OK);
        assert_int_equal(dropped, (uint64_t)cut);
        assert_int_equal(file_size(torn), 0);
        series_index_free(l);
    }
    copy_prefix(path, torn, full);
    int fd = open(torn, O_RDWR);
    assert_int_equal(pwrite(fd, "X", 1, 0), 1);
    close(fd);
    SeriesIndex *l = series_index_new(0);
    assert_int_equal(series_index_load(l, torn, &dropped, &err), TS_ERR_CORRUPT);
    assert_int_equal(file_size(torn), full);
    series_index_free(l);

    /* Records that conflict (same key, another id) end the good prefix too. */
    SeriesIndex *other = series_index_new(0);
    intern_ok(other, "cpu host=b", true); /* id FIRST, but the file says FIRST + 1 */
    copy_prefix(path, torn, full);
    assert_int_equal(series_index_load(other, torn, &dropped, &err), TS_OK);
    assert_int_equal(dropped, (uint64_t)(full - 16));
    series_index_free(other);
    series_index_free(ix);

    /* Unwritable location: persist reports TS_ERR_IO. */
    ix = series_index_new(0);
    intern_ok(ix, "a", true);
    assert_int_equal(series_index_persist(ix, "/nonexistent-dir/x/series.dat", 0, &upto, &err),
                     TS_ERR_IO);
    series_index_free(ix);
}

/* ---- concurrency ------------------------------------------------------------------------ */

#define CONC_KEYS 20000
#define CONC_THREADS 4

typedef struct ConcArg {
    SeriesIndex *ix; /* shared */
    int seed;        /* thread number */
    uint64_t *ids;   /* [CONC_KEYS] id this thread got per key */
    int created;     /* series this thread created */
} ConcArg;

static void *conc_main(void *p)
{
    ConcArg *a = p;
    char key[64];
    for (int k = 0; k < CONC_KEYS; k++) {
        int i = (k * 7919 + a->seed * 5003) % CONC_KEYS;
        snprintf(key, sizeof(key), i % 3 ? "conc m=%d host=h%d" : "conc.%d.x%d", i, i % 17);
        uint64_t id, id2;
        bool created;
        if (series_index_intern(a->ix, slice_cstr(key), &id, &created) != TS_OK)
            abort();
        if (series_index_lookup(a->ix, slice_cstr(key), &id2) != TS_OK || id2 != id)
            abort();
        Slice back;
        if (series_index_key(a->ix, id, &back) != TS_OK || !slice_eq_cstr(back, key))
            abort();
        a->ids[i] = id;
        a->created += created;
    }
    return NULL;
}

static void test_concurrent(void **state)
{
    (void)state;
    SeriesIndex *ix = series_index_new(0);
    pthread_t th[CONC_THREADS];
    ConcArg args[CONC_THREADS];
    for (int t = 0; t < CONC_THREADS; t++) {
        args[t] = (ConcArg){ix, t, calloc(CONC_KEYS, sizeof(uint64_t)), 0};
        assert_int_equal(pthread_create(&th[t], NULL, conc_main, &args[t]), 0);
    }
    int created = 0;
    for (int t = 0; t < CONC_THREADS; t++) {
        assert_int_equal(pthread_join(th[t], NULL), 0);
        created += args[t].created;
    }
    assert_int_equal(created, CONC_KEYS);
    assert_int_equal(series_index_count(ix), CONC_KEYS);
    assert_int_equal(series_index_next_id(ix), SERIES_ID_FIRST + CONC_KEYS);
    uint8_t *seen = calloc(CONC_KEYS, 1);
    for (int i = 0; i < CONC_KEYS; i++) {
        uint64_t id = args[0].ids[i];
        for (int t = 1; t < CONC_THREADS; t++)
            assert_int_equal(args[t].ids[i], id);
        assert_true(id >= SERIES_ID_FIRST && id < SERIES_ID_FIRST + CONC_KEYS);
        assert_false(seen[id - SERIES_ID_FIRST]);
        seen[id - SERIES_ID_FIRST] = 1;
    }
    uint64_t *ids;
    size_t n;
    assert_int_equal(series_index_find(ix, slice_cstr("conc"), NULL, 0, &ids, &n), TS_OK);
    assert_int_equal(n, CONC_KEYS - (CONC_KEYS + 2) / 3);
    ts_free(ids);
    free(seen);
    for (int t = 0; t < CONC_THREADS; t++)
        free(args[t].ids);
    series_index_free(ix);
}

/* ---- memory ----------------------------------------------------------------------------- */

static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static size_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return (size_t)rss * (size_t)sysconf(_SC_PAGESIZE);
}

static void measure(const char *label, bool tagged)
{
    const int n = 1000000;
    size_t heap0 = heap_in_use(), rss0 = rss_bytes(), key_bytes = 0;
    SeriesIndex *ix = series_index_new(0);
    char key[96];
    for (int i = 0; i < n; i++) {
        int len = tagged ? snprintf(key, sizeof(key), "cpu.user dc=dc%d host=web%d", i % 4, i)
                         : snprintf(key, sizeof(key), "servers.web%d.cpu%d.user", i / 8, i % 8);
        key_bytes += (size_t)len;
        uint64_t id;
        bool created;
        assert_int_equal(series_index_intern(ix, slice_make(key, (size_t)len), &id, &created),
                         TS_OK);
        assert_true(created);
    }
    size_t heap1 = heap_in_use(), rss1 = rss_bytes();
    assert_int_equal(series_index_count(ix), n);
    uint64_t id;
    assert_int_equal(
        series_index_lookup(
            ix, slice_cstr(tagged ? "cpu.user dc=dc3 host=web7" : "servers.web3.cpu1.user"), &id),
        TS_OK);
    assert_int_equal(id, SERIES_ID_FIRST + (tagged ? 7 : 25));
    /* Sanitizer allocators bypass glibc's counters; then only the RSS figure means much. */
    if (heap1 > heap0 + key_bytes)
        print_message("%s: 1M series, key bytes %.1f/series, heap (mallinfo2) %.1f bytes/series "
                      "beyond the key bytes, RSS delta %.1f bytes/series\n",
                      label, (double)key_bytes / n, (double)(heap1 - heap0 - key_bytes) / n,
                      ((double)rss1 - (double)rss0) / n);
    else
        print_message("%s: 1M series, key bytes %.1f/series, heap n/a (sanitizer allocator), "
                      "RSS delta %.1f bytes/series\n",
                      label, (double)key_bytes / n, ((double)rss1 - (double)rss0) / n);
    series_index_free(ix);
}

static void test_memory_1m(void **state)
{
    (void)state;
    measure("untagged", false);
    measure("tagged", true);
}

/* resp.late_writes = reject: per series, older than the newest is late; equal is not. */
static void test_check_order(void **state)
{
    SeriesIndex *ix = series_index_new(0);
    uint64_t a, b;
    bool created, late;
    assert_int_equal(series_index_intern(ix, slice_cstr("m host=a"), &a, &created), TS_OK);
    assert_int_equal(series_index_intern(ix, slice_cstr("m host=b"), &b, &created), TS_OK);
    assert_int_equal(series_index_check_order(ix, a, 100, &late), TS_OK);
    assert_false(late);
    assert_int_equal(series_index_check_order(ix, a, 100, &late), TS_OK);
    assert_false(late);
    assert_int_equal(series_index_check_order(ix, a, 99, &late), TS_OK);
    assert_true(late);
    assert_int_equal(series_index_check_order(ix, b, 5, &late), TS_OK);
    assert_false(late);
    assert_int_equal(series_index_check_order(ix, a, 200, &late), TS_OK);
    assert_false(late);
    assert_int_equal(series_index_check_order(ix, a, 150, &late), TS_OK);
    assert_true(late);
    assert_int_equal(series_index_check_order(ix, 999999, 1, &late), TS_ERR_NOTFOUND);
    series_index_free(ix);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_order),
        cmocka_unit_test(test_intern_lookup),     cmocka_unit_test(test_insert),
        cmocka_unit_test(test_max_series),        cmocka_unit_test(test_find),
        cmocka_unit_test(test_suggest),           cmocka_unit_test(test_glob_tree),
        cmocka_unit_test(test_persist_roundtrip), cmocka_unit_test(test_torn_tail),
        cmocka_unit_test(test_concurrent),        cmocka_unit_test(test_memory_1m),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
