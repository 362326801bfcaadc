/*
 * The series index: canonical series key <-> dense numeric series id, plus the inverted
 * indexes that queries need (metric -> ids, tag key=value -> ids, the Graphite name tree) and
 * the append-only series file that makes the mapping durable.
 *
 * A series key is canonical (DESIGN.md §1): the metric, then ` key=value` per tag in sorted key
 * order, with a space inside a metric, key or value written as `\ `. A tag splits at its first
 * '='. Keys with a space are "tagged"; keys without one (`servers.web1.cpu`) are plain Graphite
 * names and also enter the name tree used by series_index_glob.
 *
 * Metric names, tag keys and tag values given to or returned by the index are always the
 * UNESCAPED strings (`my metric`, not `my\ metric`); series keys are always canonical.
 *
 * Ids are dense: the first series gets SERIES_ID_FIRST, each new one the next id. Keys are
 * never removed, never moved and never freed before series_index_free.
 *
 * Thread safety: every function may be called from any thread. A pthread rwlock guards the
 * index; lookups of existing series take only the read lock and allocate nothing. Callbacks
 * (fn) run after the lock is released, so they may call back into the index.
 */
#ifndef CAIRN_INDEX_SERIES_INDEX_H
#define CAIRN_INDEX_SERIES_INDEX_H

#include "core/slice.h"
#include "core/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SERIES_ID_FIRST 1024         /* ids are dense and sequential from here, like Akumuli */
#define SERIES_ID_SPAN 0xFFFFFFF0u   /* ids are < SERIES_ID_FIRST + SERIES_ID_SPAN */
#define SERIES_KEY_MAX 65535         /* bytes in a series key */
#define SERIES_GLOB_SEGMENTS_MAX 256 /* dot segments in a glob pattern */

typedef struct SeriesIndex SeriesIndex;

/*
 * A new empty index. 'max_series' caps how many series series_index_intern may hold (0: no
 * cap). Caller owns; free with series_index_free.
 */
SeriesIndex *series_index_new(uint64_t max_series);

/* Free the index and every key. All borrowed slices die with it. NULL is a no-op. */
void series_index_free(SeriesIndex *ix);

/*
 * Lookup only: TS_OK and *id, or TS_ERR_NOTFOUND (also for an empty or over-long key).
 * Takes the read lock, allocates nothing.
 */
int series_index_lookup(SeriesIndex *ix, Slice key, uint64_t *id);

/*
 * Lookup or create. TS_OK with *id and *created (true when this call made the series).
 * New ids are next_id++, so ids stay dense.
 * TS_ERR_LIMIT when creating would exceed max_series or the id space (counted in
 * series_index_rejected; existing series keep working) or the key is longer than
 * SERIES_KEY_MAX; TS_ERR_PROTO for a key that is not canonical-looking: empty, an empty metric,
 * or a tag that is empty, lacks '=' or has an empty key. 'key' is copied.
 */
int series_index_intern(SeriesIndex *ix, Slice key, uint64_t *id, bool *created);

/*
 * Insert a series under a known id (recovery, series file load). Ids may come in any order;
 * next_id becomes max(id)+1. The same key with the same id again is a no-op (TS_OK).
 * TS_ERR_CORRUPT when the key is known under another id, the id is taken by another key or the
 * id is outside [SERIES_ID_FIRST, SERIES_ID_FIRST + SERIES_ID_SPAN); TS_ERR_PROTO / TS_ERR_LIMIT
 * for a bad key as in series_index_intern. Does not apply max_series (existing data must load).
 */
int series_index_insert(SeriesIndex *ix, Slice key, uint64_t id);

/*
 * The key of an id: TS_OK and *key, or TS_ERR_NOTFOUND for an unknown id. *key is borrowed and
 * valid until series_index_free (keys are never freed or moved).
 */
int series_index_key(SeriesIndex *ix, uint64_t id, Slice *key);

/*
 * Akumuli's per-series order rule, for resp.late_writes = reject: *late is set when ts_ns is
 * older than the newest timestamp this function accepted for the series since start (equal is
 * fine, as in Akumuli); otherwise ts_ns becomes the newest. Thread-safe (read lock + atomics).
 * The newest timestamps live in memory; the storage engine seeds them at start from the stored
 * data (series_index_note_newest), so the rule holds across restarts. TS_ERR_NOTFOUND for an
 * unknown id.
 */
int series_index_check_order(SeriesIndex *ix, uint64_t id, int64_t ts_ns, bool *late);

/* Raise the newest timestamp of series 'id' to ts_ns if ts_ns is newer (recovery). Unknown ids
 * are ignored. Thread-safe. */
void series_index_note_newest(SeriesIndex *ix, uint64_t id, int64_t ts_ns);

uint64_t series_index_count(SeriesIndex *ix);    /* series held */
uint64_t series_index_next_id(SeriesIndex *ix);  /* ids < this are assigned (or holes) */
uint64_t series_index_rejected(SeriesIndex *ix); /* interns refused by max_series */

/* One tag condition of series_index_find; 'values' is borrowed for the call. */
typedef struct SeriesFilter {
    Slice key;           /* tag key, unescaped */
    const Slice *values; /* accepted values, unescaped (OR) */
    size_t n_values;     /* 0: the tag must be present, with any value */
} SeriesFilter;

/*
 * Ids, ascending, of the series whose metric equals 'metric' (metric.n == 0: any metric) and
 * that satisfy every filter (AND). TS_OK even when nothing matches (*n == 0, *ids may be NULL).
 * *ids is caller-owned; free with ts_free.
 */
int series_index_find(SeriesIndex *ix, Slice metric, const SeriesFilter *f, size_t nf,
                      uint64_t **ids, size_t *n);

/*
 * Suggest helpers (Akumuli /api/suggest). Each calls fn(ctx, item) once per distinct item, in
 * ascending bytewise order, for the items that start with 'prefix' (prefix.n == 0: all):
 *   metric_names: every metric name;
 *   tag_names:    tag keys of the series of 'metric' (metric.n == 0: of all series);
 *   tag_values:   values of tag 'tag' on the series of 'metric' (metric.n == 0: all series).
 * The item slice is valid only during the call. A non-zero return from fn stops the walk and is
 * returned; otherwise TS_OK. tag_names and tag_values scan the metric's series, so they cost
 * O(series of the metric).
 */
int series_index_metric_names(SeriesIndex *ix, Slice prefix, int (*fn)(void *, Slice), void *ctx);
int series_index_tag_names(SeriesIndex *ix, Slice metric, Slice prefix, int (*fn)(void *, Slice),
                           void *ctx);
int series_index_tag_values(SeriesIndex *ix, Slice metric, Slice tag, Slice prefix,
                            int (*fn)(void *, Slice), void *ctx);

/*
 * The Graphite tree of untagged names: the nodes matched by a dotted glob pattern (glob.h), e.g.
 * `servers.*.cpu` or `a.{b,c}.d*`. fn gets each matching node's full dotted path, whether it is
 * a leaf (a series has exactly that name) and whether it has children (a node can be both), in
 * ascending path order; the path is valid only during the call. A non-zero return from fn
 * stops the walk and is returned. TS_ERR_LIMIT for a pattern over GLOB_PATTERN_MAX bytes or
 * SERIES_GLOB_SEGMENTS_MAX segments; TS_OK (and no calls) when nothing matches.
 */
int series_index_glob(SeriesIndex *ix, Slice pattern,
                      int (*fn)(void *ctx, Slice path, bool is_leaf, bool has_children), void *ctx);

/*
 * Append records for every id in [from_id, next_id) to the series file 'path' (created with its
 * header if missing or empty), then fdatasync it (and its directory when the file was new).
 * *persisted_upto receives next_id as it was at the start of the call; series created during
 * the call are left for the next one. The file must have been loaded first if it existed.
 * TS_ERR_IO (err says which call failed) when open/write/fdatasync fails: then the caller must
 * treat storage as read-only (fsyncgate); TS_ERR_CORRUPT when the file has a torn header.
 */
int series_index_persist(SeriesIndex *ix, const char *path, uint64_t from_id,
                         uint64_t *persisted_upto, TsError *err);

/*
 * Load every record of the series file into 'ix' (series_index_insert). A missing file is an
 * empty one. A torn or corrupt tail (short record, bad length, bad checksum, bad id, a key that
 * conflicts) is cut off at the end of the last good record (the file is truncated and synced)
 * and its size reported in *dropped_bytes; bad data never fails the load. TS_ERR_CORRUPT only
 * when the 16-byte header is complete but not a cairn series file header (file left alone);
 * TS_ERR_IO when a system call fails.
 */
int series_index_load(SeriesIndex *ix, const char *path, uint64_t *dropped_bytes, TsError *err);

#endif
