/*
 * Ingest: the per-thread path from a decoded point (canonical series key, time, value) to a
 * PointBatch on its way to the storage engine.
 *
 * One Ingest per event-loop thread, used only by that thread. It resolves keys to series ids
 * through a private cache in front of the shared SeriesIndex (a known series costs one hash and
 * one compare, no lock, no allocation), fills batches from its own BatchPool and submits them to
 * the engine. When every batch of the pool is in flight, ingest_put answers TS_ERR_AGAIN: the
 * caller stops reading until ingest_wake_fd() becomes readable (backpressure).
 */
#ifndef CAIRN_INGEST_INGEST_H
#define CAIRN_INGEST_INGEST_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/slice.h"
#include "index/series_index.h"
#include "storage/engine.h"

typedef struct Ingest Ingest;

/* New per-thread ingest; caller owns; free with ingest_free after engine_close. */
Ingest *ingest_new(Engine *e, SeriesIndex *ix, uint32_t batches, uint32_t batch_points);
void ingest_free(Ingest *in);

/*
 * Queue one point. Returns TS_OK; TS_ERR_AGAIN when no batch is free (nothing was queued: retry
 * after ingest_wake_fd is readable); TS_ERR_LIMIT when the series is new and storage.max_series
 * is reached; TS_ERR_READONLY when the store refuses writes; TS_ERR_PROTO for a key starting
 * with '!' (an event series' key: those series take events only, see ingest_put_event). The
 * same statuses come from ingest_put_many and ingest_put_many_named.
 */
int ingest_put(Ingest *in, Slice key, int64_t ts_ns, double value);

/*
 * The id of a canonical key through the private cache (interning a new series like
 * ingest_put): TS_OK, TS_ERR_LIMIT past storage.max_series, TS_ERR_PROTO for a malformed key.
 */
int ingest_resolve(Ingest *in, Slice key, uint64_t *id);

/*
 * Like ingest_resolve, but a key that is not in the private cache yet is interned only while
 * the store accepts writes: TS_ERR_READONLY otherwise (so a refused point creates no series).
 */
int ingest_resolve_writable(Ingest *in, Slice key, uint64_t *id);

/*
 * The name cache of ingest_put_many_named, for protocols that resolve names themselves.
 *
 * ingest_alias_find: true, with *id, when 'name' (as sent) is cached. ingest_alias_resolve:
 * resolve the canonical 'key' as ingest_resolve_writable does and, on TS_OK, remember 'name'
 * as that series. Every protocol shares one table, so names of different syntaxes must never
 * be equal: a valid Graphite name has no NUL or whitespace byte; other protocols build names
 * that hold one (OpenTSDB: "<metric>\0<tags as sent>"). Both slices are borrowed; the name is
 * copied into the capped alias arena (the cache starts over when it is full).
 */
bool ingest_alias_find(Ingest *in, Slice name, uint64_t *id);
int ingest_alias_resolve(Ingest *in, Slice name, Slice key, uint64_t *id);

/* Builds the canonical key of a name as a protocol sends it (appends to 'key'); a non-OK
 * status refuses the point (and is what ingest_put_many_named reports for it). */
typedef int (*IngestKeyFn)(void *ctx, Slice name, Buf *key);

/* True if a point could be queued now without TS_ERR_AGAIN. */
int ingest_ready(Ingest *in);

/*
 * A decoded point for ingest_put_many; 'key' is borrowed for the call. A nonzero 'id' is the
 * point's series id, resolved earlier (ingest_resolve_writable, ingest_alias_resolve, ...):
 * then 'key' is not looked at.
 */
typedef struct IngestPoint {
    Slice key;
    int64_t ts_ns;
    double value;
    uint64_t id; /* 0: resolve 'key' */
} IngestPoint;

#define INGEST_MANY_MAX 64

/*
 * Make sure the next 'n' points (n <= INGEST_MANY_MAX) can be queued without TS_ERR_AGAIN: a
 * current batch with fewer than n free slots is submitted and a fresh one taken. Returns false
 * when no batch is free (backpressure: pause and retry after ingest_wake_fd).
 */
bool ingest_reserve(Ingest *in, uint32_t n);

/*
 * Queue n points (n <= INGEST_MANY_MAX) after ingest_reserve(in, n) succeeded. The key lookups
 * are pipelined: the cache slots of all n keys are prefetched before the first is resolved, so
 * cache misses overlap; points with a nonzero id skip the lookup. rcs[i] receives each point's
 * status as ingest_put would return it (never TS_ERR_AGAIN).
 */
void ingest_put_many(Ingest *in, const IngestPoint *pts, size_t n, int *rcs);

/*
 * Like ingest_put_many, but pts[i].key is the series name exactly as the protocol sent it. A
 * per-thread cache maps names seen before straight to their series (skipping key building and
 * validation); for a new name key_fn(ctx, name, key) builds the canonical key first. The cache
 * copies names into a capped arena and starts over when it is full. Points with a nonzero id
 * skip the name lookup.
 */
void ingest_put_many_named(Ingest *in, const IngestPoint *pts, size_t n, IngestKeyFn key_fn,
                           void *ctx, int *rcs);

/*
 * Queue one event (Akumuli event series) of series 'id', which must be an event series' id
 * (its key starts with '!'; see ingest_resolve_writable). The text is copied. Returns TS_OK;
 * TS_ERR_AGAIN when no batch is free (nothing queued; retry after ingest_wake_fd);
 * TS_ERR_LIMIT for a text over EVENT_TEXT_MAX bytes; TS_ERR_READONLY.
 */
int ingest_put_event(Ingest *in, uint64_t id, int64_t ts_ns, Slice text);

/* Submit the partly filled batch, if any (end of a read event, periodic tick, shutdown). */
void ingest_flush(Ingest *in);

/*
 * Submit the current batch (an empty one if nothing is queued) carrying an on_durable callback
 * (see PointBatch in storage/engine.h): fn(arg, token, ok) runs on the storage thread once every
 * point this Ingest queued so far is durable, or never will be. Returns false, submitting
 * nothing, when no batch is free (retry after ingest_wake_fd).
 */
bool ingest_flush_durable(Ingest *in, void (*fn)(void *arg, uint64_t token, bool ok), void *arg,
                          uint64_t token);

/* eventfd that becomes readable when a batch returns to an exhausted pool; drain it with
 * ingest_drain_wake before resuming. */
int ingest_wake_fd(Ingest *in);
void ingest_drain_wake(Ingest *in);

#endif
