/*
 * PointVec and EventVec helpers for the QuerySource interface.
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

void event_vec_init(EventVec *v)
{
    v->ts_ns = NULL;
    v->off = NULL;
    v->len = NULL;
    v->n = 0;
    v->cap = 0;
    buf_init(&v->text);
}

void event_vec_deinit(EventVec *v)
{
    ts_free(v->ts_ns);
    ts_free(v->off);
    ts_free(v->len);
    buf_deinit(&v->text);
    event_vec_init(v);
}

void event_vec_clear(EventVec *v)
{
    v->n = 0;
    buf_clear(&v->text);
}

void event_vec_push(EventVec *v, int64_t ts_ns, Slice text)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 64;
        v->ts_ns = ts_realloc(v->ts_ns, v->cap * sizeof(*v->ts_ns));
        v->off = ts_realloc(v->off, v->cap * sizeof(*v->off));
        v->len = ts_realloc(v->len, v->cap * sizeof(*v->len));
    }
    TS_ASSERT(v->text.n + text.n <= UINT32_MAX);
    v->ts_ns[v->n] = ts_ns;
    v->off[v->n] = (uint32_t)v->text.n;
    v->len[v->n] = (uint32_t)text.n;
    buf_append(&v->text, text.p, text.n);
    v->n++;
}

Slice event_vec_text(const EventVec *v, size_t i)
{
    if (!v->text.p) /* only empty texts so far */
        return slice_make("", 0);
    return slice_make(v->text.p + v->off[i], v->len[i]);
}
