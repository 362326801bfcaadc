/*
 * Engine: cairn's storage engine.
 *
 * Points arrive in PointBatches from the ingest threads and go, on one storage thread, first to
 * the write-ahead log (wal.c) and then into the active memtable (per series: a sorted head of raw
 * points plus sealed compressed blocks). A full memtable is frozen and written by a flusher thread
 * into an immutable segment file (segment.c) of blocks (block.c); then the WAL files it covered are
 * deleted. Segments are merged in the background (compaction) and dropped whole when older than the
 * retention. Queries read segments + frozen + active memtable and merge them so the last write of
 * a (series, timestamp) wins.
 *
 * Data directory layout:
 *   <dir>/series.dat        series keys by id (index/series_index.c)
 *   <dir>/wal/<seq>.wal     write-ahead log (storage/wal.c)
 *   <dir>/seg/<seq>.seg     segments (storage/segment.c); a higher seq wins over a lower one
 *   <dir>/LOCK              flock()ed while a server has the directory open
 *
 * WAL record payloads written by the engine (little-endian, varints are LEB128):
 *   ENGINE_REC_SERIES (1): [u64 id][key bytes]            a new series, before any of its points
 *   ENGINE_REC_POINTS (2): [varint count] then count times
 *                          [varint id][varint zigzag(ts_ns - previous ts_ns, starting at 0)]
 *                          [u64 value bits]
 *   ENGINE_REC_EVENTS (3): [varint count] then count times
 *                          [varint id][varint zigzag(ts_ns - previous ts_ns, starting at 0)]
 *                          [varint text length][text bytes]
 *
 * Event series (Akumuli `!name` series, a text per timestamp) go the same way as numbers: WAL,
 * a per-series log in the memtable, and event blocks (event_block.c) in the same segments. A
 * series holds either numbers or events, never both (ingest/ keeps `!` keys for events).
 */
#ifndef CAIRN_STORAGE_ENGINE_H
#define CAIRN_STORAGE_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/slice.h"
#include "core/status.h"
#include "index/series_index.h"
#include "query/source.h"

#define ENGINE_REC_SERIES 1
#define ENGINE_REC_POINTS 2
#define ENGINE_REC_EVENTS 3

#define ENGINE_IDLE_COMPACT_DEFAULT_NS (10 * INT64_C(1000000000))
#define ENGINE_IDLE_COMPACT_BYTES (4ull << 30) /* idle compaction merges at most this much */

#define BATCH_EVENTS_MAX 1024              /* events in one batch */
#define BATCH_EVENT_TEXT_MAX (256u << 10)  /* event text bytes in one batch (a soft cap) */

typedef struct Engine Engine;
typedef struct BatchPool BatchPool;

/* A batch of points on its way from an ingest thread to the storage thread. */
typedef struct PointBatch {
    BatchPool *pool;         /* owner; the batch returns there after it is stored */
    uint32_t n;              /* points in use */
    uint32_t cap;            /* capacity of the arrays */
    uint64_t *ids;           /* series ids */
    int64_t *ts_ns;          /* timestamps */
    double *values;          /* values */
    struct PointBatch *next; /* queue / free-list link */
    EventVec events;         /* event points, in arrival order (empty when taken from the pool) */
    uint64_t *event_ids;     /* their series ids; capacity events.cap */
    /*
     * Optional (NULL when taken from the pool): called on the storage thread once the points of
     * this batch, and of every batch submitted before it, are durable (their WAL bytes fsynced;
     * ok = true) or never will be (the store latched read-only; ok = false). It runs after the
     * batch went back to its pool; it must be quick and must not call the engine.
     */
    void (*on_durable)(void *arg, uint64_t token, bool ok);
    void *durable_arg;
    uint64_t durable_token;
} PointBatch;

typedef struct EngineOptions {
    const char *dir;               /* data directory */
    int64_t sync_interval_ns;      /* 0 = fsync before a batch is acknowledged */
    int64_t retention_ns;          /* 0 = forever */
    uint64_t wal_segment_bytes;    /* WAL file rotation size */
    uint64_t memtable_bytes;       /* flush the memtable past this */
    int64_t flush_interval_ns;     /* flush at least this often (0 = only by size) */
    uint32_t compact_segments;     /* compact when more segments than this */
    int64_t idle_compact_ns;       /* merge the newest segments after this long without points
                                      (ENGINE_IDLE_COMPACT_DEFAULT_NS if 0; < 0 = never) */
    uint64_t max_points_per_query; /* QuerySource read cap */
    bool offline;                  /* tools: recover and read only; no WAL writer, no threads */
} EngineOptions;

typedef struct EngineStats {
    uint64_t points_written;    /* points stored (WAL + memtable) */
    uint64_t wal_bytes;         /* bytes appended to the WAL since start */
    uint64_t wal_fsyncs;        /* fdatasync calls */
    uint64_t segments;          /* segment files */
    uint64_t segment_bytes;     /* bytes of segment files */
    uint64_t blocks;            /* blocks in segment files */
    uint64_t memtable_bytes;    /* approximate bytes held in memtables */
    uint64_t flushes;           /* memtable flushes */
    uint64_t compactions;       /* compactions done */
    uint64_t retention_drops;   /* segments dropped by retention */
    uint64_t recovered_points;  /* points replayed from the WAL at start */
    uint64_t wal_dropped_bytes; /* torn/corrupt WAL bytes cut at start */
    uint64_t dropped_points;    /* points refused because the store is read-only */
    bool read_only;             /* latched after a write/fsync error */
} EngineStats;

/*
 * Open (creating if needed) the data directory, load the series index into 'ix', open the
 * segments and replay the WAL, then start the storage, flusher and compaction threads.
 * 'ix' is borrowed and must outlive the engine. Caller owns *out; close with engine_close.
 */
int engine_open(const EngineOptions *opt, SeriesIndex *ix, Engine **out, TsError *err);

/*
 * Stop: store every queued batch, flush the memtable to a segment, fsync, join the threads and
 * free. NULL is a no-op.
 */
void engine_close(Engine *e);

/*
 * A pool of 'count' batches of 'cap' points each for one ingest thread. 'wake_fd' (an eventfd,
 * or -1) is written when a batch returns to an empty pool. Caller owns; free with
 * batch_pool_free after every batch has come back.
 */
BatchPool *batch_pool_new(uint32_t count, uint32_t cap, int wake_fd);
void batch_pool_free(BatchPool *p);
/* A free batch (n == 0), or NULL if all are in flight. Thread-safe. */
PointBatch *batch_pool_get(BatchPool *p);

/*
 * Append an event (series 'id', time, text copied) to b. The caller keeps b->events.n below
 * BATCH_EVENTS_MAX and its text below about BATCH_EVENT_TEXT_MAX (batch_events_room).
 */
void batch_add_event(PointBatch *b, uint64_t id, int64_t ts_ns, Slice text);

/* True if one more event of 'text_bytes' fits into b's event caps. */
bool batch_events_room(const PointBatch *b, size_t text_bytes);

/*
 * Hand a batch to the storage thread (takes ownership; it returns to its pool once stored).
 * Never blocks. The batch's series ids must come from the engine's index.
 */
void engine_submit(Engine *e, PointBatch *b);

/*
 * Ask the storage thread to fsync the WAL now rather than at the next sync_interval, so that the
 * on_durable callbacks of batches submitted before the call run soon. With 'wait', return only
 * once that fsync is done (or failed: TS_ERR_READONLY). Thread-safe; not after engine_close.
 */
int engine_sync(Engine *e, bool wait);

/* Counters snapshot. */
void engine_stats(Engine *e, EngineStats *out);

/* Per-query state behind a QuerySource: counts points read against the query cap. */
typedef struct EngineQuery {
    Engine *e;
    uint64_t points_read;
} EngineQuery;

/*
 * Fill 'out' with a QuerySource reading this engine (find/key via the index, read via storage).
 * 'q' is caller-embedded state for one query and must outlive the use of 'out'.
 */
void engine_query_source(Engine *e, EngineQuery *q, QuerySource *out);

/* True once a WAL write/fsync or a flush failed: writes are refused until restart. */
bool engine_read_only(Engine *e);

/*
 * Verify every segment of an offline engine: file structure, every block's checksum and
 * decoding, per-series order and non-overlap, point counts and min/max times against the index
 * entries, and that every series id is known to the index. Appends one line per problem (and a
 * summary) to 'report'; *problems receives the number of problems found.
 */
int engine_check(Engine *e, Buf *report, uint64_t *problems);

/*
 * Fault injection for tests: route the engine's WAL writes and fsyncs through 'io' (see
 * wal_set_io). Call right after engine_open, before any batch is submitted.
 */
struct WalIo;
void engine_test_set_wal_io(Engine *e, const struct WalIo *io);

/* Flush the active memtable now and wait until it is in a segment (tests, shutdown). */
int engine_flush(Engine *e);

#endif
