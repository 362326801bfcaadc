/*
 * PointVec helpers for the QuerySource interface.
 */
#include "query/source.h"
#include "core/alloc.h"

void point_vec_init(PointVec *v)
{
    v->ts_ns = NULL;
    v->values = NULL;
    v->n = 0;
    v->cap = 0;
}

void point_vec_deinit(PointVec *v)
{
    ts_free(v->ts_ns);
    ts_free(v->values);
    point_vec_init(v);
}

void point_vec_clear(PointVec *v)
{
    v->n = 0;
}

void point_vec_push(PointVec *v, int64_t ts_ns, double value)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 256;
        v->ts_ns = ts_realloc(v->ts_ns, v->cap * sizeof(*v->ts_ns));
        v->values = ts_realloc(v->values, v->cap * sizeof(*v->values));
    }
    v->ts_ns[v->n] = ts_ns;
    v->values[v->n] = value;
    v->n++;
}
