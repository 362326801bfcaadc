/*
 * QuerySource: what the query engine needs from storage and the index, as an interface.
 *
 * The query front ends (Akumuli JSON, later Graphite targets) are written against this table of
 * functions so they can be unit-tested with an in-memory fake and so query/ never includes
 * storage/ or index/ directly. The server wires a real implementation in src/main.c.
 */
#ifndef CAIRN_QUERY_SOURCE_H
#define CAIRN_QUERY_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/slice.h"
#include "core/status.h"

/* One tag condition: the series has tag 'key' with a value in values[] (n_values == 0: any). */
typedef struct QueryTagFilter {
    Slice key;
    const Slice *values;
    size_t n_values;
} QueryTagFilter;

/* A growable pair of arrays of points, ascending by time. */
typedef struct PointVec {
    int64_t *ts_ns; /* owned; ts_free */
    double *values; /* owned; ts_free */
    size_t n;       /* points in use */
    size_t cap;     /* points allocated */
} PointVec;

void point_vec_init(PointVec *v);
void point_vec_deinit(PointVec *v);
void point_vec_clear(PointVec *v);
void point_vec_push(PointVec *v, int64_t ts_ns, double value);

/*
 * A growable list of events (Akumuli event series: a timestamp and a text each). The text of
 * event i is text.p[off[i] .. off[i] + len[i]). Order is whatever the producer appended.
 */
typedef struct EventVec {
    int64_t *ts_ns; /* owned */
    uint32_t *off;  /* owned */
    uint32_t *len;  /* owned */
    size_t n, cap;  /* events in use / allocated */
    Buf text;       /* the texts back to back */
} EventVec;

void event_vec_init(EventVec *v);
void event_vec_deinit(EventVec *v);
void event_vec_clear(EventVec *v);
/* Append one event (text copied; at most UINT32_MAX bytes of text in all). */
void event_vec_push(EventVec *v, int64_t ts_ns, Slice text);
/* The text of event i (borrowed; valid until the next push, clear or deinit). */
Slice event_vec_text(const EventVec *v, size_t i);

typedef struct QuerySource {
    void *ctx;
    /*
     * Ids, ascending, of the series whose metric equals 'metric' (metric.n == 0: every metric)
     * and which satisfy every filter. *ids is caller-owned (ts_free); *n may be 0.
     */
    int (*find)(void *ctx, Slice metric, const QueryTagFilter *f, size_t nf, uint64_t **ids,
                size_t *n);
    /* Canonical key of a series ("metric k=v k=v"); borrowed, valid while the source lives. */
    int (*key)(void *ctx, uint64_t id, Slice *key);
    /*
     * Append the points of series 'id' with from_ns <= ts < to_ns to 'out', ascending by time,
     * one point per timestamp (the last written wins). May return TS_ERR_LIMIT when the query
     * has read more than the configured query.max_points in total.
     */
    int (*read)(void *ctx, uint64_t id, int64_t from_ns, int64_t to_ns, PointVec *out);
    /*
     * Like read, for an event series: append its events with from_ns <= ts < to_ns to 'out',
     * ascending by time, one per timestamp (the last written wins). Counts against the same cap.
     */
    int (*read_events)(void *ctx, uint64_t id, int64_t from_ns, int64_t to_ns, EventVec *out);
} QuerySource;

#endif
