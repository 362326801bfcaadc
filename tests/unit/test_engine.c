/*
 * Storage engine tests: points through batches into the WAL and memtable, read back merged
 * (last write wins across memtable and segments, out-of-order inserts), flush + reopen, WAL
 * recovery after a process dies without closing (fork + _exit), compaction, retention, the
 * offline check, and the per-query point cap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/time.h"
#include "index/series_index.h"
#include "storage/engine.h"
#include "storage/wal.h"

#include <errno.h>
#include <stdatomic.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct Fixture {
    char dir[64];
    SeriesIndex *ix;
    Engine *e;
    BatchPool *pool;
    PointBatch *held; /* the pool's batch when it is in our hands */
    EngineOptions opt;
} Fixture;

static void rm_rf(const char *path)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", path);
}

static void fx_open(Fixture *f)
{
    f->ix = series_index_new(1000000);
    TsError err = {0};
    int rc = engine_open(&f->opt, f->ix, &f->e, &err);
    if (rc != TS_OK)
        fprintf(stderr, "engine_open: %s\n", err.msg);
    assert_int_equal(rc, TS_OK);
}

static void fx_close(Fixture *f)
{
    engine_close(f->e);
    series_index_free(f->ix);
    f->e = NULL;
    f->ix = NULL;
}

static int setup(void **state)
{
    Fixture *f = ts_calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/cairn-engine.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->opt = (EngineOptions){.dir = f->dir,
                             .sync_interval_ns = 0,
                             .wal_segment_bytes = 1 << 20,
                             .memtable_bytes = 64 << 20,
                             .compact_segments = 100,
                             .max_points_per_query = 0};
    f->pool = batch_pool_new(1, 4096, -1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fixture *f = *state;
    if (f->e)
        fx_close(f);
    batch_pool_free(f->pool);
    rm_rf(f->dir);
    ts_free(f);
    return 0;
}

/* A free batch from the fixture's one-batch pool, waiting (bounded) for it to come back. */
static PointBatch *wait_batch(Fixture *f)
{
    PointBatch *b = NULL;
    for (int i = 0; i < 5000 && !(b = batch_pool_get(f->pool)); i++)
        usleep(1000);
    assert_non_null(b);
    return b;
}

/* Store one point and wait until it is in the WAL and the memtable (its batch came back). */
static void put(Fixture *f, const char *key, int64_t ts, double v)
{
    PointBatch *b = f->held ? f->held : wait_batch(f);
    uint64_t id;
    bool created;
    assert_int_equal(series_index_intern(f->ix, slice_cstr(key), &id, &created), TS_OK);
    b->ids[0] = id;
    b->ts_ns[0] = ts;
    b->values[0] = v;
    b->n = 1;
    engine_submit(f->e, b);
    f->held = wait_batch(f);
}

/* Read series 'key' over all time into a string "ts:v ts:v ...". */
static void read_all(Fixture *f, const char *key, char *out, size_t n)
{
    out[0] = '\0';
    uint64_t id;
    if (series_index_lookup(f->ix, slice_cstr(key), &id) != TS_OK)
        return;
    EngineQuery q;
    QuerySource src;
    engine_query_source(f->e, &q, &src);
    PointVec v;
    point_vec_init(&v);
    assert_int_equal(src.read(src.ctx, id, INT64_MIN, INT64_MAX, &v), TS_OK);
    size_t k = 0;
    for (size_t i = 0; i < v.n && k < n; i++)
        k += (size_t)snprintf(out + k, n - k, "%s%lld:%g", i ? " " : "", (long long)v.ts_ns[i],
                              v.values[i]);
    point_vec_deinit(&v);
}

static size_t count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name), sl = strlen(suffix);
        if (len > sl && strcmp(de->d_name + len - sl, suffix) == 0)
            n++;
    }
    closedir(d);
    return n;
}

static void test_write_read_last_wins(void **state)
{
    Fixture *f = *state;
    fx_open(f);
    put(f, "m host=a", 30, 3);
    put(f, "m host=a", 10, 1);
    put(f, "m host=a", 20, 2);
    put(f, "m host=a", 20, 2.5); /* same timestamp: last write wins */
    char s[256];
    read_all(f, "m host=a", s, sizeof(s));
    assert_string_equal(s, "10:1 20:2.5 30:3");
    assert_int_equal(engine_flush(f->e), TS_OK);
    /* Overwrite a flushed point from the memtable. */
    put(f, "m host=a", 10, 100);
    put(f, "m host=a", 5, 0.5);
    read_all(f, "m host=a", s, sizeof(s));
    assert_string_equal(s, "5:0.5 10:100 20:2.5 30:3");
    fx_close(f);
    fx_open(f);
    read_all(f, "m host=a", s, sizeof(s));
    assert_string_equal(s, "5:0.5 10:100 20:2.5 30:3");
    /* A clean close flushed everything: nothing was replayed from the WAL. */
    EngineStats st;
    engine_stats(f->e, &st);
    assert_int_equal(st.recovered_points, 0);
}

static void test_recovery_after_crash(void **state)
{
    Fixture *f = *state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        fx_open(f);
        for (int i = 0; i < 1500; i++)
            put(f, i % 2 ? "c.odd" : "c.even", i, i * 0.25);
        _exit(0); /* no engine_close: only the WAL has the data */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    fx_open(f);
    EngineStats st;
    engine_stats(f->e, &st);
    assert_int_equal(st.recovered_points, 1500);
    uint64_t id;
    assert_int_equal(series_index_lookup(f->ix, slice_cstr("c.odd"), &id), TS_OK);
    EngineQuery q;
    QuerySource src;
    engine_query_source(f->e, &q, &src);
    PointVec v;
    point_vec_init(&v);
    assert_int_equal(src.read(src.ctx, id, INT64_MIN, INT64_MAX, &v), TS_OK);
    assert_int_equal(v.n, 750);
    for (size_t i = 0; i < v.n; i++) {
        assert_int_equal(v.ts_ns[i], (int64_t)(2 * i + 1));
        assert_true(v.values[i] == (double)(2 * i + 1) * 0.25);
    }
    point_vec_deinit(&v);
}

static void test_compaction_keeps_latest(void **state)
{
    Fixture *f = *state;
    f->opt.compact_segments = 2;
    fx_open(f);
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 10; i++)
            put(f, "k", i * 10, round * 100 + i);
        assert_int_equal(engine_flush(f->e), TS_OK);
    }
    EngineStats st;
    engine_stats(f->e, &st);
    assert_true(st.compactions >= 1);
    assert_true(st.segments <= 2);
    char s[512];
    read_all(f, "k", s, sizeof(s));
    assert_string_equal(s, "0:400 10:401 20:402 30:403 40:404 50:405 60:406 70:407 80:408 90:409");
    char segdir[128];
    snprintf(segdir, sizeof(segdir), "%s/seg", f->dir);
    assert_int_equal(count_files(segdir, ".seg"), st.segments);
    fx_close(f);
    fx_open(f);
    read_all(f, "k", s, sizeof(s));
    assert_string_equal(s, "0:400 10:401 20:402 30:403 40:404 50:405 60:406 70:407 80:408 90:409");
}

static void test_retention_drops_old_segments(void **state)
{
    Fixture *f = *state;
    f->opt.retention_ns = 3600 * TS_NS_PER_SEC;
    fx_open(f);
    int64_t now = ts_now_ns();
    put(f, "old", now - 48 * 3600 * TS_NS_PER_SEC, 1);
    assert_int_equal(engine_flush(f->e), TS_OK);
    put(f, "new", now, 2);
    assert_int_equal(engine_flush(f->e), TS_OK);
    EngineStats st;
    engine_stats(f->e, &st);
    assert_int_equal(st.retention_drops, 1);
    assert_int_equal(st.segments, 1);
    char s[128];
    read_all(f, "old", s, sizeof(s));
    assert_string_equal(s, "");
    read_all(f, "new", s, sizeof(s));
    assert_true(strlen(s) > 0);
}

static void test_check_and_query_cap(void **state)
{
    Fixture *f = *state;
    f->opt.max_points_per_query = 100;
    fx_open(f);
    PointBatch *b = wait_batch(f);
    uint64_t id;
    bool created;
    assert_int_equal(series_index_intern(f->ix, slice_cstr("big"), &id, &created), TS_OK);
    for (uint32_t i = 0; i < 1000; i++) {
        b->ids[i] = id;
        b->ts_ns[i] = (int64_t)i * TS_NS_PER_SEC;
        b->values[i] = i % 7;
    }
    b->n = 1000;
    engine_submit(f->e, b);
    f->held = wait_batch(f);
    assert_int_equal(engine_flush(f->e), TS_OK);
    EngineQuery q;
    QuerySource src;
    engine_query_source(f->e, &q, &src);
    PointVec v;
    point_vec_init(&v);
    assert_int_equal(src.read(src.ctx, id, INT64_MIN, INT64_MAX, &v), TS_ERR_LIMIT);
    point_vec_clear(&v);
    q.points_read = 0;
    assert_int_equal(src.read(src.ctx, id, 0, 50 * TS_NS_PER_SEC, &v), TS_OK);
    assert_int_equal(v.n, 50);
    point_vec_deinit(&v);
    fx_close(f);

    /* Offline check: clean, then a flipped byte in a segment is reported. */
    SeriesIndex *ix = series_index_new(1000);
    EngineOptions off = {.dir = f->dir, .offline = true, .compact_segments = 8};
    Engine *e = NULL;
    TsError err = {0};
    assert_int_equal(engine_open(&off, ix, &e, &err), TS_OK);
    Buf report;
    buf_init(&report);
    uint64_t problems = 99;
    assert_int_equal(engine_check(e, &report, &problems), TS_OK);
    assert_int_equal(problems, 0);
    engine_close(e);
    series_index_free(ix);

    char segdir[128], path[512];
    snprintf(segdir, sizeof(segdir), "%s/seg", f->dir);
    DIR *d = opendir(segdir);
    struct dirent *de;
    path[0] = '\0';
    while ((de = readdir(d)))
        if (strstr(de->d_name, ".seg"))
            snprintf(path, sizeof(path), "%s/%s", segdir, de->d_name);
    closedir(d);
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    fseek(fp, 40, SEEK_SET);
    int ch = fgetc(fp);
    fseek(fp, 40, SEEK_SET);
    fputc(ch ^ 0x55, fp);
    fclose(fp);
    ix = series_index_new(1000);
    assert_int_equal(engine_open(&off, ix, &e, &err), TS_OK);
    buf_clear(&report);
    assert_int_not_equal(engine_check(e, &report, &problems), TS_OK);
    assert_true(problems > 0);
    engine_close(e);
    series_index_free(ix);
    buf_deinit(&report);
}

static int failing_fdatasync(void *ctx, int fd)
{
    (*(int *)ctx)++;
    errno = EIO;
    return -1;
}

/* An fsync error latches the store read-only; later points are refused, never pretended. */
static void test_fsync_error_latches_read_only(void **state)
{
    Fixture *f = *state;
    fx_open(f);
    int calls = 0;
    WalIo io = {.ctx = &calls, .fdatasync = failing_fdatasync};
    engine_test_set_wal_io(f->e, &io);
    put(f, "ro", 1, 1); /* sync_interval 0: the batch's fsync fails */
    assert_true(calls >= 1);
    assert_true(engine_read_only(f->e));
    put(f, "ro", 2, 2);
    EngineStats st;
    engine_stats(f->e, &st);
    assert_true(st.read_only);
    assert_int_equal(st.dropped_points, 1);
    int before = calls;
    put(f, "ro", 3, 3);
    assert_int_equal(calls, before); /* fsync is never retried */
    assert_int_equal(engine_flush(f->e), TS_ERR_READONLY);
}

/* Store one event and wait until it is in the WAL and the memtable. */
static void put_event(Fixture *f, const char *key, int64_t ts, const char *text)
{
    PointBatch *b = f->held ? f->held : wait_batch(f);
    uint64_t id;
    bool created;
    assert_int_equal(series_index_intern(f->ix, slice_cstr(key), &id, &created), TS_OK);
    assert_true(batch_events_room(b, strlen(text)));
    batch_add_event(b, id, ts, slice_cstr(text));
    engine_submit(f->e, b);
    f->held = wait_batch(f);
    assert_int_equal(f->held->events.n, 0); /* the pool hands batches out clean */
}

/* Read event series 'key' over [from, to) into "ts:text|ts:text|...". */
static void read_events(Fixture *f, const char *key, int64_t from, int64_t to, char *out, size_t n)
{
    out[0] = '\0';
    uint64_t id;
    if (series_index_lookup(f->ix, slice_cstr(key), &id) != TS_OK)
        return;
    EngineQuery q;
    QuerySource src;
    engine_query_source(f->e, &q, &src);
    EventVec v;
    event_vec_init(&v);
    assert_int_equal(src.read_events(src.ctx, id, from, to, &v), TS_OK);
    size_t k = 0;
    for (size_t i = 0; i < v.n && k < n; i++) {
        Slice t = event_vec_text(&v, i);
        k += (size_t)snprintf(out + k, n - k, "%s%lld:%.*s", i ? "|" : "", (long long)v.ts_ns[i],
                              (int)t.n, (const char *)t.p);
    }
    event_vec_deinit(&v);
}

/* Events: stored beside numbers, last write wins in every layer, they survive a crash (WAL),
 * a flush (event blocks in a segment), compaction and a reopen, and pass the offline check. */
static void test_events_roundtrip(void **state)
{
    Fixture *f = *state;
    char got[4096];
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        fx_open(f);
        put_event(f, "!net.tcp host=a", 3000, "third");
        put_event(f, "!net.tcp host=a", 1000, "first");
        put_event(f, "!net.tcp host=a", 2000, "second (to be replaced)");
        put_event(f, "!net.tcp host=a", 2000, "second");
        put_event(f, "!net.tcp host=a", 4000, "");
        put(f, "num host=a", 1000, 1.5);
        _exit(0); /* no engine_close: only the WAL has the data */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    fx_open(f);
    EngineStats st;
    engine_stats(f->e, &st);
    assert_int_equal(st.recovered_points, 6);
    const char *want = "1000:first|2000:second|3000:third|4000:";
    read_events(f, "!net.tcp host=a", INT64_MIN, INT64_MAX, got, sizeof(got));
    assert_string_equal(got, want);
    read_events(f, "!net.tcp host=a", 2000, 4000, got, sizeof(got));
    assert_string_equal(got, "2000:second|3000:third");
    read_all(f, "num host=a", got, sizeof(got));
    assert_string_equal(got, "1000:1.5");
    read_all(f, "!net.tcp host=a", got, sizeof(got)); /* read as numbers: nothing */
    assert_string_equal(got, "");

    /* Into a segment; then newer writes in the memtable win over it. */
    assert_int_equal(engine_flush(f->e), TS_OK);
    read_events(f, "!net.tcp host=a", INT64_MIN, INT64_MAX, got, sizeof(got));
    assert_string_equal(got, want);
    put_event(f, "!net.tcp host=a", 1000, "first, rewritten");
    put_event(f, "!net.tcp host=a", 5000, "fifth");
    read_events(f, "!net.tcp host=a", INT64_MIN, INT64_MAX, got, sizeof(got));
    want = "1000:first, rewritten|2000:second|3000:third|4000:|5000:fifth";
    assert_string_equal(got, want);
    assert_int_equal(engine_flush(f->e), TS_OK);

    /* Many events across segments, then a compaction of all of them. */
    f->opt.compact_segments = 2;
    fx_close(f);
    fx_open(f);
    for (int i = 0; i < 3; i++) {
        char text[64];
        snprintf(text, sizeof(text), "bulk %d", i);
        put_event(f, "!other", 10 + i, text);
        assert_int_equal(engine_flush(f->e), TS_OK);
    }
    engine_stats(f->e, &st);
    assert_true(st.compactions >= 1);
    read_events(f, "!net.tcp host=a", INT64_MIN, INT64_MAX, got, sizeof(got));
    assert_string_equal(got, want);
    read_events(f, "!other", INT64_MIN, INT64_MAX, got, sizeof(got));
    assert_string_equal(got, "10:bulk 0|11:bulk 1|12:bulk 2");
    fx_close(f);

    /* The offline check reads event blocks too. */
    EngineOptions off = f->opt;
    off.offline = true;
    SeriesIndex *ix = series_index_new(1000);
    Engine *e = NULL;
    TsError err = {0};
    assert_int_equal(engine_open(&off, ix, &e, &err), TS_OK);
    Buf report;
    buf_init(&report);
    uint64_t problems = 99;
    assert_int_equal(engine_check(e, &report, &problems), TS_OK);
    assert_int_equal(problems, 0);
    buf_deinit(&report);
    engine_close(e);
    series_index_free(ix);
}

/* The index learns each series' newest stored timestamp at open (late_writes = reject). */
static void test_newest_seeded_at_open(void **state)
{
    Fixture *f = *state;
    fx_open(f);
    put(f, "late.seg", 500, 1);
    put(f, "late.seg", 900, 1);
    put(f, "late.seg", 700, 1);
    fx_close(f); /* in a segment */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        fx_open(f);
        put(f, "late.mem", 300, 1); /* in the WAL only */
        put_event(f, "!late.ev", 400, "x");
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    fx_open(f);
    const char *keys[] = {"late.seg", "late.mem", "!late.ev"};
    const int64_t newest[] = {900, 300, 400};
    for (int i = 0; i < 3; i++) {
        uint64_t id;
        bool late = false;
        assert_int_equal(series_index_lookup(f->ix, slice_cstr(keys[i]), &id), TS_OK);
        assert_int_equal(series_index_check_order(f->ix, id, newest[i] - 1, &late), TS_OK);
        assert_true(late);
        assert_int_equal(series_index_check_order(f->ix, id, newest[i], &late), TS_OK);
        assert_false(late);
    }
}

/* Once no point arrives for idle_compact_ns, the segments are merged into one; not before. */
static void test_idle_compaction(void **state)
{
    Fixture *f = *state;
    f->opt.idle_compact_ns = 300 * TS_NS_PER_MS;
    fx_open(f);
    for (int i = 0; i < 3; i++) {
        put(f, "idle.a", 100 + i, i);
        put(f, "idle.b", 100 + i, -i);
        assert_int_equal(engine_flush(f->e), TS_OK);
    }
    EngineStats st;
    engine_stats(f->e, &st);
    assert_int_equal(st.segments, 3);
    assert_int_equal(st.compactions, 0);
    for (int i = 0; i < 500 && st.compactions == 0; i++) { /* bounded: 5 s */
        usleep(10 * 1000);
        engine_stats(f->e, &st);
    }
    assert_int_equal(st.segments, 1);
    assert_int_equal(st.compactions, 1);
    char got[256];
    read_all(f, "idle.b", got, sizeof(got));
    assert_string_equal(got, "100:0 101:-1 102:-2");
    usleep(600 * 1000); /* once per quiet period: nothing more to do */
    engine_stats(f->e, &st);
    assert_int_equal(st.compactions, 1);
}

/* What on_durable reported, written on the storage thread. */
typedef struct DurableLog {
    _Atomic uint64_t last_token; /* token of the newest callback */
    _Atomic int calls, failed;
} DurableLog;

static void on_durable(void *arg, uint64_t token, bool ok)
{
    DurableLog *d = arg;
    atomic_store(&d->last_token, token);
    atomic_fetch_add(&d->calls, 1);
    if (!ok)
        atomic_fetch_add(&d->failed, 1);
}

/* Submit one point carrying an on_durable callback with 'token'; wait until it is stored. */
static void put_durable(Fixture *f, const char *key, int64_t ts, DurableLog *d, uint64_t token)
{
    PointBatch *b = f->held ? f->held : wait_batch(f);
    uint64_t id;
    bool created;
    assert_int_equal(series_index_intern(f->ix, slice_cstr(key), &id, &created), TS_OK);
    b->ids[0] = id;
    b->ts_ns[0] = ts;
    b->values[0] = 1;
    b->n = 1;
    b->on_durable = on_durable;
    b->durable_arg = d;
    b->durable_token = token;
    engine_submit(f->e, b);
    f->held = wait_batch(f);
    assert_null(f->held->on_durable); /* the pool hands batches out clean */
}

static int counting_fdatasync(void *ctx, int fd)
{
    (*(int *)ctx)++;
    return fdatasync(fd);
}

/* on_durable runs only after the fsync covering the batch: not at the next store with a long
 * sync_interval, but at engine_sync; and as failed once the store is read-only. */
static void test_durable_callback_after_fsync(void **state)
{
    Fixture *f = *state;
    f->opt.sync_interval_ns = 3600 * TS_NS_PER_SEC;
    fx_open(f);
    int syncs = 0;
    WalIo io = {.ctx = &syncs, .fdatasync = counting_fdatasync};
    engine_test_set_wal_io(f->e, &io);
    DurableLog d = {0};
    put_durable(f, "dur", 1, &d, 7);
    put_durable(f, "dur", 2, &d, 8);
    usleep(200 * 1000); /* the storage thread loops every 100 ms; no fsync is due for an hour */
    assert_int_equal(atomic_load(&d.calls), 0);
    assert_int_equal(syncs, 0);
    assert_int_equal(engine_sync(f->e, true), TS_OK);
    assert_int_equal(syncs, 1);
    assert_int_equal(atomic_load(&d.calls), 2);
    assert_int_equal(atomic_load(&d.failed), 0);
    assert_int_equal(atomic_load(&d.last_token), 8); /* in submission order */

    /* An empty batch with a callback is a marker: durable once everything before it is. */
    put_durable(f, "dur", 3, &d, 9);
    PointBatch *b = f->held;
    f->held = NULL;
    b->on_durable = on_durable;
    b->durable_arg = &d;
    b->durable_token = 10;
    engine_submit(f->e, b);
    f->held = wait_batch(f);
    assert_int_equal(engine_sync(f->e, true), TS_OK);
    assert_int_equal(atomic_load(&d.calls), 4);
    assert_int_equal(atomic_load(&d.last_token), 10);

    /* After an fsync failure the callbacks say the points will never be durable. */
    WalIo bad = {.ctx = &syncs, .fdatasync = failing_fdatasync};
    engine_test_set_wal_io(f->e, &bad);
    put_durable(f, "dur", 4, &d, 11);
    assert_int_equal(engine_sync(f->e, true), TS_ERR_READONLY);
    assert_int_equal(atomic_load(&d.calls), 5);
    assert_int_equal(atomic_load(&d.failed), 1);
    assert_int_equal(atomic_load(&d.last_token), 11);
}

/* ---- sealed memtable heads ---- */

#define SEAL_TS 2000 /* distinct timestamps in the model */

static uint64_t seal_rng = 88172645463325252ull;

static uint64_t seal_next(void)
{
    seal_rng ^= seal_rng << 13;
    seal_rng ^= seal_rng >> 7;
    seal_rng ^= seal_rng << 17;
    return seal_rng;
}

/* A value of one of several shapes: 2-decimal, integer, raw bits (XOR mode), negative zero. */
static double seal_value(uint64_t r)
{
    switch (r % 8) {
    case 0:
        return (double)(int64_t)(r >> 40) / 100.0;
    case 1:
        return (double)(int64_t)(r >> 20);
    case 2: {
        double d;
        uint64_t bits = r * 0x9e3779b97f4a7c15ull;
        memcpy(&d, &bits, 8);
        return d != d ? 1.5 : d; /* NaN payloads compare unequal: keep the model simple */
    }
    case 3:
        return -0.0;
    default:
        return (double)(int64_t)(r % 20000) / 100.0 - 100.0;
    }
}

/* Read series 'id' and compare it bit-exactly with the model (want_set[t]: written). */
static void seal_check(Fixture *f, uint64_t id, const double *want, const bool *want_set)
{
    EngineQuery q;
    QuerySource src;
    engine_query_source(f->e, &q, &src);
    PointVec v;
    point_vec_init(&v);
    assert_int_equal(src.read(src.ctx, id, INT64_MIN, INT64_MAX, &v), TS_OK);
    size_t k = 0;
    for (int64_t t = 0; t < SEAL_TS; t++) {
        if (!want_set[t])
            continue;
        assert_true(k < v.n);
        assert_int_equal(v.ts_ns[k], t * 10 * TS_NS_PER_SEC + (t % 3) * 1000);
        assert_memory_equal(&v.values[k], &want[t], sizeof(double));
        k++;
    }
    assert_int_equal(k, v.n);
    /* a window read: only [from, to) */
    point_vec_clear(&v);
    int64_t from = 500 * 10 * TS_NS_PER_SEC, to = 700 * 10 * TS_NS_PER_SEC;
    assert_int_equal(src.read(src.ctx, id, from, to, &v), TS_OK);
    size_t expect = 0;
    for (int64_t t = 500; t < 700; t++)
        expect += want_set[t];
    assert_int_equal(v.n, expect);
    for (size_t i = 0; i < v.n; i++)
        assert_true(v.ts_ns[i] >= from && v.ts_ns[i] < to);
    point_vec_deinit(&v);
}

/*
 * Many points into one series: in order (heads fill and are sealed every 64 points), with
 * overwrites of sealed points and back-fills between sealed chunks, in every value shape. The
 * memtable alone, then after a flush, then after reopening must all read back the model: the
 * newest write per timestamp, bit-exact.
 */
static void test_sealed_heads_match_model(void **state)
{
    Fixture *f = *state;
    fx_open(f);
    double *want = ts_calloc(SEAL_TS, sizeof(double));
    bool *want_set = ts_calloc(SEAL_TS, sizeof(bool));
    uint64_t id;
    bool created;
    assert_int_equal(series_index_intern(f->ix, slice_cstr("sealed host=a"), &id, &created), TS_OK);
    int64_t next = 0;
    for (int round = 0; round < 12; round++) {
        PointBatch *b = f->held ? f->held : wait_batch(f);
        f->held = NULL;
        b->n = 0;
        while (b->n < 700) {
            uint64_t r = seal_next();
            int64_t t;
            if (r % 10 < 7 && next < SEAL_TS)
                t = next++; /* in order */
            else if (next > 0)
                t = (int64_t)(seal_next() % (uint64_t)next); /* overwrite or back-fill */
            else
                continue;
            if (r % 10 == 9 && t % 5 == 0 && !want_set[t])
                continue; /* leave some gaps to back-fill later */
            b->ids[b->n] = id;
            b->ts_ns[b->n] = t * 10 * TS_NS_PER_SEC + (t % 3) * 1000;
            b->values[b->n] = seal_value(seal_next());
            want[t] = b->values[b->n];
            want_set[t] = true;
            b->n++;
        }
        engine_submit(f->e, b);
        f->held = wait_batch(f);
        if (round == 5)
            seal_check(f, id, want, want_set); /* part of the data, memtable only */
    }
    seal_check(f, id, want, want_set);
    EngineStats st;
    engine_stats(f->e, &st);
    assert_int_equal(st.segments, 0); /* everything above came from the memtable */
    assert_int_equal(engine_flush(f->e), TS_OK);
    seal_check(f, id, want, want_set);
    fx_close(f);
    fx_open(f);
    assert_int_equal(series_index_lookup(f->ix, slice_cstr("sealed host=a"), &id), TS_OK);
    seal_check(f, id, want, want_set);
    ts_free(want);
    ts_free(want_set);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_read_last_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sealed_heads_match_model, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_after_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compaction_keeps_latest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_drops_old_segments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_and_query_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fsync_error_latches_read_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_durable_callback_after_fsync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_compaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newest_seeded_at_open, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
