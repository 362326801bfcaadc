/*
 * Unit tests for storage/wal: round trips over rotated files, torn tails at every byte offset,
 * bit flips, zero-filled tails, bad headers, removal, reopen order, and fault injection through
 * WalIo (a failed fsync or write latches the log read-only and is never retried).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "core/endian.h"
#include "core/hash.h"
#include "storage/wal.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_RECS 4096
#define MAX_PAYLOAD 512

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

static char *make_dir(void)
{
    char *d = ts_strdup("/tmp/cairn-test-wal-XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

static char *wal_file(const char *dir, uint64_t seq)
{
    char *p = ts_malloc(strlen(dir) + 32);
    sprintf(p, "%s/%016" PRIx64 ".wal", dir, seq);
    return p;
}

static uint64_t file_size(const char *path)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return (uint64_t)sb.st_size;
}

static bool file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Whole file into a malloc'ed buffer. */
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

/* Deterministic record i: type in 1..255, length 0..299, bytes derived from i. */
static uint8_t rec_type(size_t i)
{
    return (uint8_t)(1 + i % 255);
}

static size_t rec_len(size_t i)
{
    return (i * 37) % 300;
}

static void rec_fill(size_t i, uint8_t *p)
{
    for (size_t j = 0; j < rec_len(i); j++)
        p[j] = (uint8_t)(i * 131 + j * 7);
}

static void append_rec(Wal *w, size_t i)
{
    uint8_t p[MAX_PAYLOAD];
    rec_fill(i, p);
    assert_int_equal(wal_append(w, rec_type(i), p, rec_len(i)), TS_OK);
}

typedef struct Got {
    size_t n;
    uint64_t seq[MAX_RECS];
    uint8_t type[MAX_RECS];
    size_t len[MAX_RECS];
    uint8_t payload[MAX_RECS][MAX_PAYLOAD];
    size_t stop_after; /* return TS_ERR_LIMIT once n reaches this; 0 = never */
} Got;

static int collect(void *ctx, uint64_t seq, uint8_t type, const uint8_t *payload, size_t n)
{
    Got *g = ctx;
    if (g->stop_after && g->n >= g->stop_after)
        return TS_ERR_LIMIT;
    assert_true(g->n < MAX_RECS);
    assert_true(n <= MAX_PAYLOAD);
    g->seq[g->n] = seq;
    g->type[g->n] = type;
    g->len[g->n] = n;
    if (n)
        memcpy(g->payload[g->n], payload, n);
    g->n++;
    return TS_OK;
}

static Got *got_new(void)
{
    return ts_calloc(1, sizeof(Got));
}

/* Check that records [0, count) of g are records first..first+count of the generator. */
static void check_recs(const Got *g, size_t at, size_t first, size_t count)
{
    uint8_t p[MAX_PAYLOAD];
    for (size_t k = 0; k < count; k++) {
        size_t i = first + k;
        assert_int_equal(g->type[at + k], rec_type(i));
        assert_int_equal(g->len[at + k], rec_len(i));
        rec_fill(i, p);
        if (rec_len(i))
            assert_memory_equal(g->payload[at + k], p, rec_len(i));
    }
}

/* ---- tests ---- */

static void test_roundtrip_rotated(void **state)
{
    (void)state;
    char *dir = make_dir();
    Wal *w;
    TsError err = {0};
    assert_int_equal(wal_open(dir, 4096, &w, &err), TS_OK);
    assert_int_equal(wal_current_seq(w), 1);
    const size_t N = 2000;
    uint64_t rotations = 0;
    for (size_t i = 0; i < N; i++) {
        append_rec(w, i);
        if (wal_should_rotate(w)) {
            uint64_t closed = 0, cur = wal_current_seq(w);
            assert_int_equal(wal_rotate(w, &closed), TS_OK);
            assert_int_equal(closed, cur);
            assert_int_equal(wal_current_seq(w), cur + 1);
            rotations++;
        }
    }
    assert_true(rotations >= 10);
    assert_int_equal(wal_sync(w), TS_OK);
    assert_false(wal_failed(w));
    uint64_t bytes = wal_bytes_total(w);
    assert_true(wal_syncs_total(w) >= rotations + 1);
    wal_close(w);

    Got *g = got_new();
    WalReplayStats st;
    assert_int_equal(wal_replay(dir, 1 << 20, collect, g, &st, &err), TS_OK);
    assert_int_equal(g->n, N);
    check_recs(g, 0, 0, N);
    for (size_t i = 1; i < N; i++)
        assert_true(g->seq[i] >= g->seq[i - 1]);
    assert_int_equal(g->seq[0], 1);
    assert_int_equal(g->seq[N - 1], rotations + 1);
    assert_int_equal(st.files, rotations + 1);
    assert_int_equal(st.records, N);
    assert_int_equal(st.bytes, bytes);
    assert_int_equal(st.dropped_bytes, 0);
    assert_int_equal(st.corrupt_files, 0);
    ts_free(g);
    rm_rf(dir);
    ts_free(dir);
}

/* Offsets of the ends of records 0..n-1 when written into a fresh file. */
static void rec_ends(size_t n, uint64_t *ends)
{
    uint64_t off = 24;
    for (size_t i = 0; i < n; i++) {
        off += 9 + rec_len(i);
        ends[i] = off;
    }
}

static void test_torn_tail_every_offset(void **state)
{
    (void)state;
    char *dir = make_dir();
    Wal *w;
    const size_t N = 6; /* record 5 has 185 payload bytes */
    assert_int_equal(wal_open(dir, 0, &w, NULL), TS_OK);
    for (size_t i = 0; i < N; i++)
        append_rec(w, i);
    wal_close(w);
    char *path = wal_file(dir, 1);
    size_t full;
    uint8_t *img = read_all(path, &full);
    uint64_t ends[8];
    rec_ends(N, ends);
    assert_int_equal(full, ends[N - 1]);

    Got *g = got_new();
    for (size_t len = 0; len <= full; len++) {
        write_all_file(path, img, len);
        memset(g, 0, sizeof(*g));
        WalReplayStats st;
        assert_int_equal(wal_replay(dir, 1 << 20, collect, g, &st, NULL), TS_OK);
        size_t expect = 0;
        uint64_t good = len >= 24 ? 24 : 0;
        for (size_t i = 0; i < N; i++) {
            if (ends[i] <= len) {
                expect = i + 1;
                good = ends[i];
            }
        }
        assert_int_equal(g->n, expect);
        check_recs(g, 0, 0, expect);
        assert_int_equal(st.files, 1);
        assert_int_equal(st.records, expect);
        assert_int_equal(st.dropped_bytes, len - good);
        assert_int_equal(st.corrupt_files, len > good ? 1 : 0);
        assert_int_equal(file_size(path), good);
        /* A second replay of the cut file is clean and gives the same records. */
        memset(g, 0, sizeof(*g));
        assert_int_equal(wal_replay(dir, 1 << 20, collect, g, &st, NULL), TS_OK);
        assert_int_equal(g->n, expect);
        assert_int_equal(st.dropped_bytes, 0);
        assert_int_equal(st.corrupt_files, 0);
    }
    ts_free(g);
    ts_free(img);
    ts_free(path);
    rm_rf(dir);
    ts_free(dir);
}

/* Three files of 10 records each (records 0..29); returns the dir. */
static char *three_files(void)
{
    char *dir = make_dir();
    Wal *w;
    assert_int_equal(wal_open(dir, 0, &w, NULL), TS_OK);
    for (size_t i = 0; i < 30; i++) {
        append_rec(w, i);
        if (i == 9 || i == 19)
            assert_int_equal(wal_rotate(w, NULL), TS_OK);
    }
    wal_close(w);
    return dir;
}

static void test_bit_flip_middle_file(void **state)
{
    (void)state;
    /* Record 15 (the 6th of file 2) starts after the header and records 10..14. */
    uint64_t start = 24;
    for (size_t i = 10; i < 15; i++)
        start += 9 + rec_len(i);
    uint64_t rec_bytes = 9 + rec_len(15);
    Got *g = got_new();
    for (uint64_t pos = start; pos < start + rec_bytes; pos++) {
        char *dir = three_files();
        char *path = wal_file(dir, 2);
        size_t n;
        uint8_t *img = read_all(path, &n);
        img[pos] ^= 0x10;
        write_all_file(path, img, n);
        memset(g, 0, sizeof(*g));
        WalReplayStats st;
        assert_int_equal(wal_replay(dir, 1 << 20, collect, g, &st, NULL), TS_OK);
        /* file 1: records 0..9, file 2: 10..14, file 3: 20..29 */
        assert_int_equal(g->n, 25);
        check_recs(g, 0, 0, 15);
        check_recs(g, 15, 20, 10);
        assert_int_equal(g->seq[14], 2);
        assert_int_equal(g->seq[15], 3);
        assert_int_equal(st.files, 3);
        assert_int_equal(st.corrupt_files, 1);
        assert_int_equal(st.dropped_bytes, n - start);
        assert_int_equal(file_size(path), start);
        ts_free(img);
        ts_free(path);
        rm_rf(dir);
        ts_free(dir);
    }
    ts_free(g);
}

static void test_zero_filled_tail(void **state)
{
    (void)state;
    char *dir = make_dir();
    Wal *w;
    assert_int_equal(wal_open(dir, 0, &w, NULL), TS_OK);
    for (size_t i = 0; i < 10; i++)
        append_rec(w, i);
    wal_close(w);
    char *path = wal_file(dir, 1);
    uint64_t before = file_size(path);
    int fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    uint8_t zeros[4096] = {0};
    assert_int_equal(write(fd, zeros, sizeof(zeros)), (ssize_t)sizeof(zeros));
    close(fd);
    Got *g = got_new();
    WalReplayStats st;
    assert_int_equal(wal_replay(dir, 1 << 20, collect, g, &st, NULL), TS_OK);
    assert_int_equal(g->n, 10);
    check_recs(g, 0, 0, 10);
    assert_int_equal(st.dropped_bytes, sizeof(zeros));
    assert_int_equal(st.corrupt_files, 1);
    assert_int_equal(file_size(path), before);
    ts_free(g);
    ts_free(path);
    rm_rf(dir);
    ts_free(dir);
}

static void test_bad_header(void **state)
{
    (void)state;
    Got *g = got_new();
    /* Each header byte flipped in file 1: file 1 dropped entirely, files 2 and 3 replayed. */
    for (size_t pos = 0; pos < 24; pos++) {
        char *dir = three_files();
        char *path = wal_file(dir, 1);
        size_t n;
        uint8_t *img = read_all(path, &n);
        img[pos] ^= 0x01;
        write_all_file(path, img, n);
        memset(g, 0, sizeof(*g));
        WalReplayStats st;
        assert_int_equal(wal_replay(dir, 1 << 20, collect, g, &st, NULL), TS_OK);
        assert_int_equal(g->n, 20);
        check_recs(g, 0, 10, 20);
        assert_int_equal(st.corrupt_files, 1);
        assert_int_equal(st.dropped_bytes, n);
        assert_int_equal(file_size(path), 0);
        ts_free(img);
        ts_free(path);
        rm_rf(dir);
        ts_free(dir);
    }
    ts_free(g);
}

static void test_header_seq_mismatch(void **state)
{
    (void)state;
    char *dir = three_files();
    char *p1 = wal_file(dir, 1), *p9 = wal_file(dir, 9);
    assert_int_equal(rename(p1, p9), 0); /* header says 1, name says 9 */
    Got *g = got_new();
    WalReplayStats st;
    assert_int_equal(wal_replay(dir, 1 << 20, collect, g, &st, NULL), TS_OK);
    assert_int_equal(g->n, 20);
    check_recs(g, 0, 10, 20);
    assert_int_equal(st.corrupt_files, 1);
    assert_int_equal(file_size(p9), 0);
    ts_free(g);
    ts_free(p1);
    ts_free(p9);
    rm_rf(dir);
    ts_free(dir);
}

static void test_unknown_version_untouched(void **state)
{
    (void)state;
    char *dir = three_files();
    char *path = wal_file(dir, 2);
    size_t n;
    uint8_t *img = read_all(path, &n);
    put_u32le(img + 8, 2);
    put_u32le(img + 20, crc32c(img, 20));
    write_all_file(path, img, n);
    Got *g = got_new();
    TsError err = {0};
    assert_int_equal(wal_replay(dir, 1 << 20, collect, g, NULL, &err), TS_ERR_CORRUPT);
    assert_non_null(strstr(err.msg, "version"));
    assert_int_equal(g->n, 10);
    assert_int_equal(file_size(path), n);
    ts_free(g);
    ts_free(img);
    ts_free(path);
    rm_rf(dir);
    ts_free(dir);
}

static void test_max_record_bytes(void **state)
{
    (void)state;
    char *dir = make_dir();
    Wal *w;
    assert_int_equal(wal_open(dir, 0, &w, NULL), TS_OK);
    uint8_t big[200] = {1};
    assert_int_equal(wal_append(w, 7, "abc", 3), TS_OK);
    assert_int_equal(wal_append(w, 7, big, sizeof(big)), TS_OK);
    assert_int_equal(wal_append(w, 7, "def", 3), TS_OK);
    wal_close(w);
    Got *g = got_new();
    WalReplayStats st;
    assert_int_equal(wal_replay(dir, 100, collect, g, &st, NULL), TS_OK);
    assert_int_equal(g->n, 1);
    assert_memory_equal(g->payload[0], "abc", 3);
    assert_int_equal(st.dropped_bytes, 9 + 200 + 9 + 3);
    ts_free(g);
    rm_rf(dir);
    ts_free(dir);
}

static void test_callback_stops(void **state)
{
    (void)state;
    char *dir = three_files();
    Got *g = got_new();
    g->stop_after = 13;
    WalReplayStats st;
    assert_int_equal(wal_replay(dir, 1 << 20, collect, g, &st, NULL), TS_ERR_LIMIT);
    assert_int_equal(g->n, 13);
    assert_int_equal(st.records, 13);
    assert_int_equal(st.dropped_bytes, 0);
    /* Nothing was truncated: a full replay still sees all 30. */
    memset(g, 0, sizeof(*g));
    assert_int_equal(wal_replay(dir, 1 << 20, collect, g, &st, NULL), TS_OK);
    assert_int_equal(g->n, 30);
    ts_free(g);
    rm_rf(dir);
    ts_free(dir);
}

static void test_missing_dir_and_foreign_names(void **state)
{
    (void)state;
    char *dir = make_dir();
    char sub[512];
    snprintf(sub, sizeof(sub), "%s/nope", dir);
    Got *g = got_new();
    WalReplayStats st;
    assert_int_equal(wal_replay(sub, 0, collect, g, &st, NULL), TS_OK);
    assert_int_equal(st.files, 0);
    /* Names that are not exactly 16 lowercase hex digits + ".wal" are ignored. */
    const char *junk[] = {"0000000000000001.wal.tmp", "000000000000001.wal", "000000000000000A.wal",
                          "x.wal", "0000000000000001.seg"};
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        snprintf(sub, sizeof(sub), "%s/%s", dir, junk[i]);
        write_all_file(sub, (const uint8_t *)"garbage", 7);
    }
    assert_int_equal(wal_replay(dir, 0, collect, g, &st, NULL), TS_OK);
    assert_int_equal(st.files, 0);
    assert_int_equal(g->n, 0);
    ts_free(g);
    rm_rf(dir);
    ts_free(dir);
}

static void test_nested_dir_created(void **state)
{
    (void)state;
    char *dir = make_dir();
    char sub[512];
    snprintf(sub, sizeof(sub), "%s/a/b/wal", dir);
    Wal *w;
    assert_int_equal(wal_open(sub, 0, &w, NULL), TS_OK);
    assert_int_equal(wal_append(w, 1, "x", 1), TS_OK);
    wal_close(w);
    Got *g = got_new();
    assert_int_equal(wal_replay(sub, 0, collect, g, NULL, NULL), TS_OK);
    assert_int_equal(g->n, 1);
    ts_free(g);
    rm_rf(dir);
    ts_free(dir);
}

static void test_remove_upto(void **state)
{
    (void)state;
    char *dir = make_dir();
    Wal *w;
    assert_int_equal(wal_open(dir, 0, &w, NULL), TS_OK);
    for (size_t i = 0; i < 3; i++) {
        append_rec(w, i);
        assert_int_equal(wal_rotate(w, NULL), TS_OK);
    }
    append_rec(w, 3);
    assert_int_equal(wal_current_seq(w), 4);
    assert_int_equal(wal_remove_upto(w, 2), TS_OK);
    for (uint64_t s = 1; s <= 4; s++) {
        char *p = wal_file(dir, s);
        assert_int_equal(file_exists(p), s > 2);
        ts_free(p);
    }
    /* upto beyond the current file never removes the current file. */
    assert_int_equal(wal_remove_upto(w, 100), TS_OK);
    for (uint64_t s = 1; s <= 4; s++) {
        char *p = wal_file(dir, s);
        assert_int_equal(file_exists(p), s == 4);
        ts_free(p);
    }
    assert_int_equal(wal_sync(w), TS_OK);
    wal_close(w);
    Got *g = got_new();
    assert_int_equal(wal_replay(dir, 0, collect, g, NULL, NULL), TS_OK);
    assert_int_equal(g->n, 1);
    check_recs(g, 0, 3, 1);
    ts_free(g);
    rm_rf(dir);
    ts_free(dir);
}

static void test_reopen_new_seq_in_order(void **state)
{
    (void)state;
    char *dir = make_dir();
    Wal *w;
    for (uint64_t round = 0; round < 3; round++) {
        assert_int_equal(wal_open(dir, 0, &w, NULL), TS_OK);
        assert_int_equal(wal_current_seq(w), round + 1);
        for (size_t i = round * 5; i < round * 5 + 5; i++)
            append_rec(w, i);
        wal_close(w);
    }
    /* Cut file 3's tail; the next open must still start a new file after it. */
    char *p3 = wal_file(dir, 3);
    assert_int_equal(truncate(p3, (off_t)(file_size(p3) - 1)), 0);
    Got *g = got_new();
    WalReplayStats st;
    assert_int_equal(wal_replay(dir, 0, collect, g, &st, NULL), TS_OK);
    assert_int_equal(g->n, 14);
    check_recs(g, 0, 0, 14);
    assert_int_equal(g->seq[0], 1);
    assert_int_equal(g->seq[5], 2);
    assert_int_equal(g->seq[10], 3);
    assert_int_equal(st.corrupt_files, 1);
    assert_int_equal(wal_open(dir, 0, &w, NULL), TS_OK);
    assert_int_equal(wal_current_seq(w), 4);
    append_rec(w, 100);
    wal_close(w);
    memset(g, 0, sizeof(*g));
    assert_int_equal(wal_replay(dir, 0, collect, g, &st, NULL), TS_OK);
    assert_int_equal(g->n, 15);
    check_recs(g, 14, 100, 1);
    assert_int_equal(g->seq[14], 4);
    assert_int_equal(st.dropped_bytes, 0);
    ts_free(g);
    ts_free(p3);
    rm_rf(dir);
    ts_free(dir);
}

/* ---- fault injection ---- */

typedef struct Faults {
    int fail_fdatasync; /* errno to fail fdatasync with, 0 = pass through */
    int fail_write;
    int fail_fsync;
    size_t max_write; /* cap each write at this many bytes (short writes), 0 = no cap */
    int fdatasync_calls;
    int write_calls;
} Faults;

static ssize_t fault_write(void *ctx, int fd, const void *p, size_t n)
{
    Faults *f = ctx;
    f->write_calls++;
    if (f->fail_write) {
        errno = f->fail_write;
        return -1;
    }
    if (f->max_write && n > f->max_write)
        n = f->max_write;
    return write(fd, p, n);
}

static int fault_fdatasync(void *ctx, int fd)
{
    Faults *f = ctx;
    f->fdatasync_calls++;
    if (f->fail_fdatasync) {
        errno = f->fail_fdatasync;
        return -1;
    }
    return fdatasync(fd);
}

static int fault_fsync(void *ctx, int fd)
{
    Faults *f = ctx;
    if (f->fail_fsync) {
        errno = f->fail_fsync;
        return -1;
    }
    return fsync(fd);
}

static void set_faults(Wal *w, Faults *f)
{
    WalIo io = {f, fault_write, fault_fdatasync, fault_fsync};
    wal_set_io(w, &io);
}

static void test_fsync_failure_latches(void **state)
{
    (void)state;
    char *dir = make_dir();
    Wal *w;
    assert_int_equal(wal_open(dir, 0, &w, NULL), TS_OK);
    Faults f = {0};
    set_faults(w, &f);
    assert_int_equal(wal_append(w, 1, "a", 1), TS_OK);
    assert_int_equal(wal_sync(w), TS_OK);
    assert_int_equal(f.fdatasync_calls, 1);
    assert_int_equal(wal_syncs_total(w), 1);
    /* Nothing new appended: no fdatasync. */
    assert_int_equal(wal_sync(w), TS_OK);
    assert_int_equal(f.fdatasync_calls, 1);

    f.fail_fdatasync = EIO;
    assert_int_equal(wal_append(w, 1, "b", 1), TS_OK);
    assert_false(wal_failed(w));
    assert_int_equal(wal_sync(w), TS_ERR_READONLY);
    assert_true(wal_failed(w));
    assert_int_equal(wal_failed_errno(w), EIO);
    assert_int_equal(f.fdatasync_calls, 2);
    /* Latched even when the disk "recovers": never retried. */
    f.fail_fdatasync = 0;
    wal_set_io(w, NULL);
    assert_int_equal(wal_sync(w), TS_ERR_READONLY);
    assert_int_equal(wal_append(w, 1, "c", 1), TS_ERR_READONLY);
    assert_int_equal(wal_rotate(w, NULL), TS_ERR_READONLY);
    assert_int_equal(wal_remove_upto(w, 0), TS_ERR_READONLY);
    assert_int_equal(f.fdatasync_calls, 2);
    assert_int_equal(wal_syncs_total(w), 1);
    wal_close(w);
    rm_rf(dir);
    ts_free(dir);
}

static void test_write_failure_latches(void **state)
{
    (void)state;
    char *dir = make_dir();
    Wal *w;
    assert_int_equal(wal_open(dir, 0, &w, NULL), TS_OK);
    Faults f = {0};
    set_faults(w, &f);
    f.fail_write = ENOSPC;
    assert_int_equal(wal_append(w, 1, "a", 1), TS_ERR_READONLY);
    assert_int_equal(wal_failed_errno(w), ENOSPC);
    f.fail_write = 0;
    int calls = f.write_calls;
    assert_int_equal(wal_append(w, 1, "a", 1), TS_ERR_READONLY);
    assert_int_equal(wal_sync(w), TS_ERR_READONLY);
    assert_int_equal(f.write_calls, calls);
    assert_int_equal(f.fdatasync_calls, 0);
    assert_int_equal(wal_bytes_total(w), 0);
    wal_close(w);
    rm_rf(dir);
    ts_free(dir);
}

static void test_rotate_dir_fsync_failure_latches(void **state)
{
    (void)state;
    char *dir = make_dir();
    Wal *w;
    assert_int_equal(wal_open(dir, 0, &w, NULL), TS_OK);
    Faults f = {0};
    set_faults(w, &f);
    append_rec(w, 0);
    f.fail_fsync = EIO;
    assert_int_equal(wal_rotate(w, NULL), TS_ERR_READONLY);
    assert_true(wal_failed(w));
    assert_int_equal(wal_append(w, 1, "a", 1), TS_ERR_READONLY);
    wal_close(w);
    rm_rf(dir);
    ts_free(dir);
}

static void test_short_writes(void **state)
{
    (void)state;
    char *dir = make_dir();
    Wal *w;
    assert_int_equal(wal_open(dir, 0, &w, NULL), TS_OK);
    Faults f = {.max_write = 3};
    set_faults(w, &f);
    for (size_t i = 0; i < 20; i++)
        append_rec(w, i);
    assert_true(f.write_calls > 20);
    assert_int_equal(wal_sync(w), TS_OK);
    wal_close(w);
    Got *g = got_new();
    WalReplayStats st;
    assert_int_equal(wal_replay(dir, 0, collect, g, &st, NULL), TS_OK);
    assert_int_equal(g->n, 20);
    check_recs(g, 0, 0, 20);
    assert_int_equal(st.dropped_bytes, 0);
    ts_free(g);
    rm_rf(dir);
    ts_free(dir);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    char *dir = make_dir();
    Wal *w;
    assert_int_equal(wal_open("", 0, &w, NULL), TS_ERR_PROTO);
    assert_null(w);
    assert_int_equal(wal_open(dir, 0, &w, NULL), TS_OK);
    assert_int_equal(wal_append(w, 0, "a", 1), TS_ERR_PROTO);
    assert_false(wal_failed(w));
    assert_int_equal(wal_append(w, 1, NULL, 0), TS_OK);
    assert_int_equal(wal_bytes_total(w), 9);
    wal_close(w);
    wal_close(NULL);
    Got *g = got_new();
    assert_int_equal(wal_replay(dir, 0, collect, g, NULL, NULL), TS_OK);
    assert_int_equal(g->n, 1);
    assert_int_equal(g->len[0], 0);
    assert_int_equal(g->type[0], 1);
    ts_free(g);
    rm_rf(dir);
    ts_free(dir);
}

static void test_should_rotate(void **state)
{
    (void)state;
    char *dir = make_dir();
    Wal *w;
    assert_int_equal(wal_open(dir, 100, &w, NULL), TS_OK);
    assert_false(wal_should_rotate(w)); /* 24-byte header */
    uint8_t p[60] = {0};
    assert_int_equal(wal_append(w, 1, p, sizeof(p)), TS_OK); /* 24 + 69 = 93 */
    assert_false(wal_should_rotate(w));
    assert_int_equal(wal_append(w, 1, p, 0), TS_OK); /* 102 */
    assert_true(wal_should_rotate(w));
    assert_int_equal(wal_rotate(w, NULL), TS_OK);
    assert_false(wal_should_rotate(w));
    wal_close(w);
    assert_int_equal(wal_open(dir, 0, &w, NULL), TS_OK);
    assert_int_equal(wal_append(w, 1, p, sizeof(p)), TS_OK);
    assert_false(wal_should_rotate(w)); /* 0 = never */
    wal_close(w);
    rm_rf(dir);
    ts_free(dir);
}

/* wal_append_framed writes the same bytes as wal_append; bad arguments are refused. */
static void test_append_framed(void **state)
{
    (void)state;
    char *dir = make_dir();
    Wal *w;
    assert_int_equal(wal_open(dir, 1 << 20, &w, NULL), TS_OK);
    uint8_t rec[WAL_REC_HDR_BYTES + MAX_PAYLOAD];
    for (size_t i = 0; i < 50; i++) {
        if (i % 2) {
            append_rec(w, i);
            continue;
        }
        memset(rec, 0xee, WAL_REC_HDR_BYTES); /* overwritten by the call */
        rec_fill(i, rec + WAL_REC_HDR_BYTES);
        assert_int_equal(wal_append_framed(w, rec_type(i), rec, WAL_REC_HDR_BYTES + rec_len(i)),
                         TS_OK);
    }
    assert_int_equal(wal_append_framed(w, 0, rec, WAL_REC_HDR_BYTES), TS_ERR_PROTO);
    assert_int_equal(wal_append_framed(w, 1, rec, WAL_REC_HDR_BYTES - 1), TS_ERR_PROTO);
    assert_false(wal_failed(w));
    uint64_t bytes = wal_bytes_total(w);
    wal_close(w);
    Got *g = got_new();
    WalReplayStats st;
    assert_int_equal(wal_replay(dir, 1 << 20, collect, g, &st, NULL), TS_OK);
    assert_int_equal(g->n, 50);
    check_recs(g, 0, 0, 50);
    assert_int_equal(st.bytes, bytes);
    assert_int_equal(st.dropped_bytes, 0);
    ts_free(g);
    rm_rf(dir);
    ts_free(dir);
}

/* Preallocation never shows in the file size, and its blocks are given back at close. */
static void test_preallocation(void **state)
{
    (void)state;
    char *dir = make_dir();
    Wal *w;
    assert_int_equal(wal_open(dir, 8 << 20, &w, NULL), TS_OK);
    append_rec(w, 1);
    char *path = wal_file(dir, 1);
    assert_int_equal(file_size(path), 24 + 9 + rec_len(1));
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    bool preallocated = (uint64_t)sb.st_blocks * 512 >= (8u << 20);
    wal_close(w);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal((uint64_t)sb.st_size, 24 + 9 + rec_len(1));
    if (preallocated) /* the filesystem supports fallocate: the tail was released */
        assert_true((uint64_t)sb.st_blocks * 512 < (1u << 20));
    Got *g = got_new();
    WalReplayStats st;
    assert_int_equal(wal_replay(dir, 1 << 20, collect, g, &st, NULL), TS_OK);
    assert_int_equal(g->n, 1);
    assert_int_equal(st.dropped_bytes, 0);
    ts_free(g);
    ts_free(path);
    rm_rf(dir);
    ts_free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_rotated),
        cmocka_unit_test(test_append_framed),
        cmocka_unit_test(test_preallocation),
        cmocka_unit_test(test_torn_tail_every_offset),
        cmocka_unit_test(test_bit_flip_middle_file),
        cmocka_unit_test(test_zero_filled_tail),
        cmocka_unit_test(test_bad_header),
        cmocka_unit_test(test_header_seq_mismatch),
        cmocka_unit_test(test_unknown_version_untouched),
        cmocka_unit_test(test_max_record_bytes),
        cmocka_unit_test(test_callback_stops),
        cmocka_unit_test(test_missing_dir_and_foreign_names),
        cmocka_unit_test(test_nested_dir_created),
        cmocka_unit_test(test_remove_upto),
        cmocka_unit_test(test_reopen_new_seq_in_order),
        cmocka_unit_test(test_fsync_failure_latches),
        cmocka_unit_test(test_write_failure_latches),
        cmocka_unit_test(test_rotate_dir_fsync_failure_latches),
        cmocka_unit_test(test_short_writes),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_should_rotate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
