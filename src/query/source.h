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
} QuerySource;

#endif
