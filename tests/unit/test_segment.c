/*
 * Unit tests for storage/segment: write/read round trips, lookup of present and absent series,
 * corruption of every structural byte and every truncation (TS_ERR_CORRUPT, never a crash),
 * semantically bad but correctly checksummed indexes, refcounting with deferred deletion, and
 * writer abort/finish leaving no tmp file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "core/endian.h"
#include "core/hash.h"
#include "storage/segment.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- helpers ---- */

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_rf(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

typedef struct Fixture {
    char dir[64];
    char path[128];
    char tmp[136];
} Fixture;

static int fx_setup(void **state)
{
    Fixture *fx = ts_calloc(1, sizeof(*fx));
    strcpy(fx->dir, "/tmp/cairn-test-seg-XXXXXX");
    if (!mkdtemp(fx->dir))
        return -1;
    snprintf(fx->path, sizeof(fx->path), "%s/%016x.seg", fx->dir, 7u);
    snprintf(fx->tmp, sizeof(fx->tmp), "%s.tmp", fx->path);
    *state = fx;
    return 0;
}

static int fx_teardown(void **state)
{
    Fixture *fx = *state;
    rm_rf(fx->dir);
    ts_free(fx);
    return 0;
}

static bool file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static uint8_t *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    assert_true(sz >= 0);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = ts_malloc((size_t)sz + 1);
    assert_int_equal(fread(p, 1, (size_t)sz, f), (size_t)sz);
    fclose(f);
    *n = (size_t)sz;
    return p;
}

static void write_all_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

/* Deterministic block k: length 0..199, bytes derived from k. */
static size_t blk_len(size_t k)
{
    return (k * 53 + 11) % 200;
}

static void blk_fill(size_t k, uint8_t *p)
{
    for (size_t j = 0; j < blk_len(k); j++)
        p[j] = (uint8_t)(k * 29 + j * 3 + 1);
}

/* Series 2*s (s < n_series) with 1 + s % 3 blocks each; fills 'want' (may be NULL). */
static size_t write_segment(const char *path, uint64_t seq, size_t n_series, SegmentEntry *want)
{
    SegmentWriter *w;
    TsError err = {0};
    assert_int_equal(segment_writer_open(path, seq, &w, &err), TS_OK);
    size_t k = 0;
    uint64_t off = 16;
    for (size_t s = 0; s < n_series; s++) {
        for (size_t b = 0; b < 1 + s % 3; b++) {
            uint8_t blk[256];
            blk_fill(k, blk);
            int64_t min_ts = (int64_t)(b * 1000) - 500 + (int64_t)s;
            int64_t max_ts = min_ts + (int64_t)(b * 7);
            uint32_t np = (uint32_t)(1 + k % 120);
            assert_int_equal(
                segment_writer_add(w, 2 * s, min_ts, max_ts, np, slice_make(blk, blk_len(k)), &err),
                TS_OK);
            if (want) {
                SegmentEntry e = {2 * s, min_ts, max_ts, np, off, (uint32_t)blk_len(k)};
                want[k] = e;
            }
            off += blk_len(k);
            k++;
        }
    }
    assert_int_equal(segment_writer_finish(w, &err), TS_OK);
    return k;
}

/* Recompute the index and footer crcs of a segment image after editing it. */
static void reseal(uint8_t *img, size_t n)
{
    uint8_t *f = img + n - 64;
    uint64_t index_off = get_u64le(f);
    put_u32le(f + 48, crc32c(img + index_off, n - 64 - index_off));
    put_u32le(f + 60, crc32c(f, 60));
}

static int open_image(const Fixture *fx, const uint8_t *img, size_t n, TsError *err)
{
    write_all_file(fx->path, img, n);
    Segment *s = NULL;
    int rc = segment_open(fx->path, &s, err);
    if (rc == TS_OK) {
        assert_non_null(s);
        assert_int_equal(segment_verify(s, err), TS_OK);
        segment_unref(s);
    } else {
        assert_null(s);
    }
    return rc;
}

/* ---- tests ---- */

static void test_roundtrip(void **state)
{
    Fixture *fx = *state;
    enum { NS = 1000 };
    SegmentEntry *want = ts_calloc(3 * NS, sizeof(*want));
    size_t count = write_segment(fx->path, 7, NS, want);
    assert_false(file_exists(fx->tmp));

    Segment *s;
    TsError err = {0};
    assert_int_equal(segment_open(fx->path, &s, &err), TS_OK);
    assert_int_equal(segment_verify(s, &err), TS_OK);
    assert_int_equal(segment_seq(s), 7);
    assert_int_equal(segment_entry_count(s), count);
    struct stat sb;
    assert_int_equal(stat(fx->path, &sb), 0);
    assert_int_equal(segment_file_bytes(s), (uint64_t)sb.st_size);

    const SegmentEntry *es = segment_entries(s);
    int64_t min_ts = INT64_MAX, max_ts = INT64_MIN;
    uint64_t points = 0;
    for (size_t k = 0; k < count; k++) {
        assert_int_equal(es[k].series_id, want[k].series_id);
        assert_int_equal(es[k].min_ts_ns, want[k].min_ts_ns);
        assert_int_equal(es[k].max_ts_ns, want[k].max_ts_ns);
        assert_int_equal(es[k].n_points, want[k].n_points);
        assert_int_equal(es[k].offset, want[k].offset);
        assert_int_equal(es[k].length, want[k].length);
        uint8_t blk[256];
        blk_fill(k, blk);
        Slice b = segment_block(s, &es[k]);
        assert_int_equal(b.n, blk_len(k));
        if (b.n)
            assert_memory_equal(b.p, blk, b.n);
        if (want[k].min_ts_ns < min_ts)
            min_ts = want[k].min_ts_ns;
        if (want[k].max_ts_ns > max_ts)
            max_ts = want[k].max_ts_ns;
        points += want[k].n_points;
    }
    assert_int_equal(segment_min_ts(s), min_ts);
    assert_int_equal(segment_max_ts(s), max_ts);
    assert_int_equal(segment_point_count(s), points);

    /* Present series: exactly their 1 + s % 3 blocks, in time order. */
    for (size_t sid = 0; sid < NS; sid++) {
        const SegmentEntry *first = NULL;
        size_t n = segment_find(s, 2 * sid, &first);
        assert_int_equal(n, 1 + sid % 3);
        assert_non_null(first);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(first[i].series_id, 2 * sid);
            if (i)
                assert_true(first[i].min_ts_ns >= first[i - 1].min_ts_ns);
        }
        if (first > es)
            assert_true(first[-1].series_id < 2 * sid);
    }
    /* Absent series: odd ids, past the end, and the maximum id. */
    const uint64_t absent[] = {1, 3, 999, 2 * NS, 2 * NS + 1, UINT64_MAX};
    for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
        const SegmentEntry *first = es;
        assert_int_equal(segment_find(s, absent[i], &first), 0);
        assert_null(first);
    }
    segment_unref(s);
    ts_free(want);
}

static void test_empty_segment(void **state)
{
    Fixture *fx = *state;
    SegmentWriter *w;
    assert_int_equal(segment_writer_open(fx->path, 3, &w, NULL), TS_OK);
    assert_int_equal(segment_writer_finish(w, NULL), TS_OK);
    Segment *s;
    assert_int_equal(segment_open(fx->path, &s, NULL), TS_OK);
    assert_int_equal(segment_entry_count(s), 0);
    assert_int_equal(segment_file_bytes(s), 80);
    assert_int_equal(segment_min_ts(s), INT64_MAX);
    assert_int_equal(segment_max_ts(s), INT64_MIN);
    const SegmentEntry *first = NULL;
    assert_int_equal(segment_find(s, 0, &first), 0);
    assert_null(first);
    assert_int_equal(segment_verify(s, NULL), TS_OK);
    segment_unref(s);
}

static void test_writer_rejects_bad_order(void **state)
{
    Fixture *fx = *state;
    SegmentWriter *w;
    TsError err = {0};
    Slice b = slice_cstr("blk");
    assert_int_equal(segment_writer_open(fx->path, 1, &w, &err), TS_OK);
    assert_int_equal(segment_writer_add(w, 5, 100, 200, 2, b, &err), TS_OK);
    assert_int_equal(segment_writer_add(w, 4, 300, 400, 2, b, &err), TS_ERR_PROTO);
    assert_int_equal(segment_writer_add(w, 5, 99, 400, 2, b, &err), TS_ERR_PROTO);
    assert_int_equal(segment_writer_add(w, 6, 10, 9, 2, b, &err), TS_ERR_PROTO);
    /* Equal (series, min_ts) is allowed; the writer is still usable after rejections. */
    assert_int_equal(segment_writer_add(w, 5, 100, 150, 1, b, &err), TS_OK);
    assert_int_equal(segment_writer_add(w, 6, 10, 10, 1, b, &err), TS_OK);
    assert_int_equal(segment_writer_finish(w, &err), TS_OK);
    Segment *s;
    assert_int_equal(segment_open(fx->path, &s, &err), TS_OK);
    assert_int_equal(segment_entry_count(s), 3);
    assert_int_equal(segment_point_count(s), 4);
    const SegmentEntry *first;
    assert_int_equal(segment_find(s, 5, &first), 2);
    assert_int_equal(first[1].max_ts_ns, 150);
    Slice got = segment_block(s, &first[1]);
    assert_true(slice_eq(got, b));
    segment_unref(s);
}

static void test_every_byte_flip(void **state)
{
    Fixture *fx = *state;
    SegmentEntry want[16];
    size_t count = write_segment(fx->path, 9, 5, want);
    assert_true(count <= 16);
    size_t n;
    uint8_t *img = read_all(fx->path, &n);
    uint64_t index_off = get_u64le(img + n - 64);
    assert_int_equal(index_off, want[count - 1].offset + want[count - 1].length);
    for (size_t pos = 0; pos < n; pos++) {
        img[pos] ^= 0x01;
        TsError err = {0};
        int rc = open_image(fx, img, n, &err);
        if (pos >= 16 && pos < index_off) {
            assert_int_equal(rc, TS_OK); /* block bytes are opaque here */
        } else {
            assert_int_equal(rc, TS_ERR_CORRUPT);
            assert_true(err.msg[0] != '\0');
        }
        img[pos] ^= 0x01;
    }
    assert_int_equal(open_image(fx, img, n, NULL), TS_OK);
    ts_free(img);
}

static void test_every_truncation(void **state)
{
    Fixture *fx = *state;
    write_segment(fx->path, 9, 5, NULL);
    size_t n;
    uint8_t *img = read_all(fx->path, &n);
    for (size_t len = 0; len < n; len++) {
        TsError err = {0};
        assert_int_equal(open_image(fx, img, len, &err), TS_ERR_CORRUPT);
    }
    /* Extra bytes after the footer are not a segment either. */
    uint8_t *longer = ts_malloc(n + 8);
    memcpy(longer, img, n);
    memset(longer + n, 0, 8);
    assert_int_equal(open_image(fx, longer, n + 8, NULL), TS_ERR_CORRUPT);
    ts_free(longer);
    ts_free(img);
}

/* Edit one index field, reseal the checksums, and expect TS_ERR_CORRUPT with 'what' in msg. */
static void expect_semantic_corrupt(const Fixture *fx, const uint8_t *orig, size_t n, size_t entry,
                                    size_t field_off, uint64_t value, int width, const char *what)
{
    uint8_t *img = ts_malloc(n);
    memcpy(img, orig, n);
    uint64_t index_off = get_u64le(img + n - 64);
    uint8_t *p = img + index_off + entry * 40 + field_off;
    if (width == 8)
        put_u64le(p, value);
    else
        put_u32le(p, (uint32_t)value);
    reseal(img, n);
    TsError err = {0};
    assert_int_equal(open_image(fx, img, n, &err), TS_ERR_CORRUPT);
    assert_non_null(strstr(err.msg, what));
    ts_free(img);
}

static void test_semantic_corruption(void **state)
{
    Fixture *fx = *state;
    SegmentEntry want[16];
    write_segment(fx->path, 9, 5, want); /* entries: s0:1, s2:2, s4:3, s6:1, s8:2 */
    size_t n;
    uint8_t *img = read_all(fx->path, &n);
    /* series out of order */
    expect_semantic_corrupt(fx, img, n, 1, 0, 100, 8, "out of order");
    /* min_ts out of order within a series (entry 2 is series 2's second block) */
    expect_semantic_corrupt(fx, img, n, 2, 8, (uint64_t)INT64_MIN, 8, "out of order");
    /* min_ts > max_ts */
    expect_semantic_corrupt(fx, img, n, 0, 16, (uint64_t)(int64_t)-100000, 8, "min_ts > max_ts");
    /* block overlapping the previous one */
    expect_semantic_corrupt(fx, img, n, 3, 24, want[2].offset, 8, "overlapping");
    /* block inside the header */
    expect_semantic_corrupt(fx, img, n, 0, 24, 3, 8, "outside");
    /* block running into the index */
    expect_semantic_corrupt(fx, img, n, 8, 32, 100000, 4, "outside");
    /* huge offset (overflow bait) */
    expect_semantic_corrupt(fx, img, n, 8, 24, UINT64_MAX - 2, 8, "outside");
    /* point count no longer matches the footer */
    expect_semantic_corrupt(fx, img, n, 4, 36, 5000, 4, "footer totals");

    /* Footer fields with good crcs but wrong geometry. */
    uint8_t *bad = ts_malloc(n);
    const uint64_t geo[][2] = {{0, 0}, {0, 15}, {0, n}, {8, 1}, {8, UINT64_MAX / 2}, {8, 0}};
    for (size_t i = 0; i < sizeof(geo) / sizeof(geo[0]); i++) {
        memcpy(bad, img, n);
        put_u64le(bad + n - 64 + geo[i][0], geo[i][1]);
        put_u32le(bad + n - 4, crc32c(bad + n - 64, 60));
        assert_int_equal(open_image(fx, bad, n, NULL), TS_ERR_CORRUPT);
    }
    /* Unknown footer version with a good crc. */
    memcpy(bad, img, n);
    put_u32le(bad + n - 12, 2);
    put_u32le(bad + n - 4, crc32c(bad + n - 64, 60));
    TsError err = {0};
    assert_int_equal(open_image(fx, bad, n, &err), TS_ERR_CORRUPT);
    assert_non_null(strstr(err.msg, "version"));
    ts_free(bad);
    ts_free(img);
}

static void test_open_missing(void **state)
{
    Fixture *fx = *state;
    Segment *s = (Segment *)1;
    TsError err = {0};
    assert_int_equal(segment_open(fx->path, &s, &err), TS_ERR_IO);
    assert_null(s);
    assert_int_not_equal(err.sys_errno, 0);
}

static void test_refcount_mark_deleted(void **state)
{
    Fixture *fx = *state;
    write_segment(fx->path, 1, 10, NULL);
    Segment *s;
    assert_int_equal(segment_open(fx->path, &s, NULL), TS_OK);
    segment_ref(s);
    segment_ref(s);
    segment_mark_deleted(s);
    segment_unref(s);
    segment_unref(s);
    assert_true(file_exists(fx->path));
    /* Still readable through the last reference. */
    const SegmentEntry *first;
    assert_int_equal(segment_find(s, 18, &first), 1);
    uint8_t blk[256];
    size_t k = segment_entry_count(s) - 1;
    blk_fill(k, blk);
    Slice b = segment_block(s, first);
    assert_int_equal(b.n, blk_len(k));
    assert_memory_equal(b.p, blk, b.n);
    segment_unref(s);
    assert_false(file_exists(fx->path));
    segment_unref(NULL);
}

static void test_unref_keeps_file(void **state)
{
    Fixture *fx = *state;
    write_segment(fx->path, 1, 3, NULL);
    Segment *s;
    assert_int_equal(segment_open(fx->path, &s, NULL), TS_OK);
    segment_unref(s);
    assert_true(file_exists(fx->path));
}

static void test_abort_removes_tmp(void **state)
{
    Fixture *fx = *state;
    SegmentWriter *w;
    assert_int_equal(segment_writer_open(fx->path, 1, &w, NULL), TS_OK);
    assert_true(file_exists(fx->tmp));
    assert_int_equal(segment_writer_add(w, 1, 1, 2, 2, slice_cstr("abc"), NULL), TS_OK);
    segment_writer_abort(w);
    assert_false(file_exists(fx->tmp));
    assert_false(file_exists(fx->path));
    segment_writer_abort(NULL);
}

static void test_writer_open_fails(void **state)
{
    Fixture *fx = *state;
    char path[160];
    snprintf(path, sizeof(path), "%s/no/such/dir/x.seg", fx->dir);
    SegmentWriter *w = (SegmentWriter *)1;
    TsError err = {0};
    assert_int_equal(segment_writer_open(path, 1, &w, &err), TS_ERR_IO);
    assert_null(w);
}

static void test_replace_keeps_old_mapping(void **state)
{
    Fixture *fx = *state;
    write_segment(fx->path, 1, 4, NULL);
    Segment *old;
    assert_int_equal(segment_open(fx->path, &old, NULL), TS_OK);
    size_t old_count = segment_entry_count(old);
    /* Rewrite the same path (compaction into the highest seq does this). */
    SegmentWriter *w;
    assert_int_equal(segment_writer_open(fx->path, 2, &w, NULL), TS_OK);
    assert_int_equal(segment_writer_add(w, 42, 5, 6, 2, slice_cstr("new"), NULL), TS_OK);
    assert_int_equal(segment_writer_finish(w, NULL), TS_OK);
    Segment *cur;
    assert_int_equal(segment_open(fx->path, &cur, NULL), TS_OK);
    assert_int_equal(segment_seq(cur), 2);
    assert_int_equal(segment_entry_count(cur), 1);
    /* The old mapping still shows the old file. */
    assert_int_equal(segment_seq(old), 1);
    assert_int_equal(segment_entry_count(old), old_count);
    assert_int_equal(segment_verify(old, NULL), TS_OK);
    const SegmentEntry *first;
    assert_int_equal(segment_find(old, 6, &first), 1);
    uint8_t blk[256];
    blk_fill(old_count - 1, blk);
    Slice b = segment_block(old, first);
    assert_int_equal(b.n, blk_len(old_count - 1));
    if (b.n)
        assert_memory_equal(b.p, blk, b.n);
    segment_unref(old);
    segment_unref(cur);
    assert_true(file_exists(fx->path));
}

static void test_large_blocks_flush(void **state)
{
    Fixture *fx = *state;
    /* More than the writer's 1 MiB chunk so the data area is written in several pieces. */
    enum { NB = 40, BLK = 100000 };
    uint8_t *blk = ts_malloc(BLK);
    SegmentWriter *w;
    assert_int_equal(segment_writer_open(fx->path, 2, &w, NULL), TS_OK);
    for (size_t i = 0; i < NB; i++) {
        memset(blk, (int)i, BLK);
        assert_int_equal(segment_writer_add(w, i, 0, 0, 1, slice_make(blk, BLK), NULL), TS_OK);
    }
    assert_int_equal(segment_writer_finish(w, NULL), TS_OK);
    Segment *s;
    assert_int_equal(segment_open(fx->path, &s, NULL), TS_OK);
    assert_int_equal(segment_entry_count(s), NB);
    for (size_t i = 0; i < NB; i++) {
        const SegmentEntry *e;
        assert_int_equal(segment_find(s, i, &e), 1);
        Slice b = segment_block(s, e);
        assert_int_equal(b.n, BLK);
        memset(blk, (int)i, BLK);
        assert_memory_equal(b.p, blk, BLK);
    }
    segment_unref(s);
    ts_free(blk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_empty_segment, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_writer_rejects_bad_order, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_every_byte_flip, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_every_truncation, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_semantic_corruption, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_open_missing, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_refcount_mark_deleted, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_unref_keeps_file, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_abort_removes_tmp, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_writer_open_fails, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_replace_keeps_old_mapping, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_large_blocks_flush, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
