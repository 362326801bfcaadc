/*
 * What every protocol handler shares: per-worker and per-connection state, the queue of decoded
 * points waiting for a batch (backpressure for protocols that decode whole frames or messages),
 * receive-buffer caps, and the dispatch from a listener to its handler.
 */
#include "net/protocols.h"
#include "core/alloc.h"
#include "net/handlers.h"
#include "proto/resp.h"

#include <string.h>

#define PROTO_ARENA_CAP (64u << 20) /* pickle decoding scratch per frame */
#define PROTO_READ_SLACK (64 * 1024)

void proto_ctx_init(ProtoCtx *p, const Config *cfg, SeriesIndex *ix, Ingest *in,
                    NetListenerStats *stats, LogLimit *limit, const char *version)
{
    memset(p, 0, sizeof(*p));
    p->cfg = cfg;
    p->ix = ix;
    p->in = in;
    p->stats = stats;
    p->log_limit = limit;
    p->version = version;
    buf_init(&p->key);
    arena_init(&p->arena, PROTO_ARENA_CAP);
}

void proto_ctx_deinit(ProtoCtx *p)
{
    buf_deinit(&p->key);
    arena_deinit(&p->arena);
    resp_names_free(p->resp_names);
    p->resp_names = NULL;
}

void proto_conn_init(ProtoConn *c, int listener)
{
    memset(c, 0, sizeof(*c));
    c->listener = listener;
    buf_init(&c->reply);
    buf_init(&c->pending.keys);
}

void proto_conn_deinit(ProtoConn *c)
{
    buf_deinit(&c->reply);
    buf_deinit(&c->pending.keys);
    ts_free(c->pending.pts);
    proto_resp_free(c);
}

void proto_log_bad(ProtoCtx *p, const char *what, const uint8_t *line, size_t n, const char *why)
{
    uint64_t sup;
    if (!log_limit_allow(p->log_limit, 10, &sup))
        return;
    int show = n > 400 ? 400 : (int)n;
    while (show > 0 && (line[show - 1] == '\r' || line[show - 1] == '\n'))
        show--;
    log_warn("%s: %s from client %s, ignoring [%.*s]: %s (%llu similar messages suppressed)",
             p->stats[p->listener].name, what, p->peer ? p->peer : "?", show, (const char *)line,
             why, (unsigned long long)sup);
}

void proto_count_rejection(ProtoCtx *p, int rc, Slice what)
{
    NetListenerStats *st = &p->stats[p->listener];
    atomic_fetch_add_explicit(&st->points_rejected, 1, memory_order_relaxed);
    if (rc == TS_ERR_LIMIT) {
        atomic_fetch_add_explicit(&st->rejected_series_limit, 1, memory_order_relaxed);
        proto_log_bad(p, "new series refused", what.p, what.n, "storage.max_series reached");
    } else if (rc == TS_ERR_READONLY) {
        atomic_fetch_add_explicit(&st->rejected_read_only, 1, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&st->rejected_bad_name, 1, memory_order_relaxed);
    }
}

void pending_push(PendingPoints *q, Slice key, int64_t ts_ns, double value)
{
    if (q->n == q->cap) {
        q->cap = q->cap ? q->cap * 2 : 64;
        q->pts = ts_realloc(q->pts, q->cap * sizeof(PendingPoint));
    }
    q->pts[q->n++] = (PendingPoint){q->keys.n, (uint32_t)key.n, false, ts_ns, value, 0};
    buf_append(&q->keys, key.p, key.n);
}

void pending_push_event(PendingPoints *q, uint64_t id, int64_t ts_ns, Slice text)
{
    if (q->n == q->cap) {
        q->cap = q->cap ? q->cap * 2 : 64;
        q->pts = ts_realloc(q->pts, q->cap * sizeof(PendingPoint));
    }
    q->pts[q->n++] = (PendingPoint){q->keys.n, (uint32_t)text.n, true, ts_ns, 0, id};
    buf_append(&q->keys, text.p, text.n);
}

void pending_push_id(PendingPoints *q, uint64_t id, int64_t ts_ns, double value)
{
    if (q->n == q->cap) {
        q->cap = q->cap ? q->cap * 2 : 64;
        q->pts = ts_realloc(q->pts, q->cap * sizeof(PendingPoint));
    }
    q->pts[q->n++] = (PendingPoint){0, 0, false, ts_ns, value, id};
}

bool pending_drain(ProtoCtx *p, PendingPoints *q)
{
    NetListenerStats *st = &p->stats[p->listener];
    uint64_t accepted = 0;
    bool done = true;
    while (q->head < q->n) {
        const PendingPoint *ev = &q->pts[q->head];
        if (ev->is_event) {
            Slice text = slice_make(q->keys.p + ev->key_off, ev->key_len);
            int rc = ingest_put_event(p->in, ev->id, ev->ts_ns, text);
            if (rc == TS_ERR_AGAIN) {
                done = false;
                break;
            }
            if (rc == TS_OK)
                accepted++;
            else
                proto_count_rejection(p, rc, text);
            q->head++;
            continue;
        }
        /* A run of up to INGEST_MANY_MAX points (events break runs). */
        size_t k = 0;
        while (k < INGEST_MANY_MAX && q->head + k < q->n && !q->pts[q->head + k].is_event)
            k++;
        if (!ingest_reserve(p->in, (uint32_t)k)) {
            done = false;
            break;
        }
        IngestPoint pts[INGEST_MANY_MAX];
        int rcs[INGEST_MANY_MAX];
        for (size_t i = 0; i < k; i++) {
            const PendingPoint *pp = &q->pts[q->head + i];
            pts[i].key = slice_make(q->keys.p + pp->key_off, pp->key_len);
            pts[i].ts_ns = pp->ts_ns;
            pts[i].value = pp->value;
            pts[i].id = pp->id;
        }
        if (q->key_fn)
            ingest_put_many_named(p->in, pts, k, q->key_fn, p, rcs);
        else
            ingest_put_many(p->in, pts, k, rcs);
        for (size_t i = 0; i < k; i++) {
            if (rcs[i] == TS_OK)
                accepted++;
            else
                proto_count_rejection(p, rcs[i], pts[i].key);
        }
        q->head += k;
    }
    if (done) {
        q->n = q->head = 0;
        buf_clear(&q->keys);
    }
    if (accepted)
        atomic_fetch_add_explicit(&st->points_accepted, accepted, memory_order_relaxed);
    return done;
}

size_t proto_rx_cap(const Config *cfg, int listener)
{
    switch (listener) {
    case NET_PICKLE_TCP:
        return 4 + (size_t)cfg->graphite.pickle_max_bytes + PROTO_READ_SLACK;
    case NET_RESP_TCP:
        return PROTO_RESP_MAX_MESSAGE + PROTO_READ_SLACK;
    case NET_OPENTSDB_TCP:
        return (size_t)cfg->net.max_name_bytes + 512 + PROTO_READ_SLACK;
    case NET_GRAPHITE_UDP:
    case NET_RESP_UDP:
        return 65536;
    default:
        return (size_t)cfg->graphite.max_line_bytes + PROTO_READ_SLACK;
    }
}

ProtoResult proto_handle(ProtoCtx *p, ProtoConn *c, const uint8_t *buf, size_t n, bool final,
                         size_t *consumed)
{
    p->listener = c->listener;
    *consumed = 0;
    /* Points decoded earlier go first: nothing new is read while they wait. */
    if (!pending_drain(p, &c->pending))
        return PROTO_PAUSE;
    switch (c->listener) {
    case NET_PICKLE_TCP:
        return proto_pickle_frames(p, c, buf, n, consumed);
    case NET_RESP_TCP:
    case NET_RESP_UDP:
        return proto_resp_messages(p, c, buf, n, final, consumed);
    case NET_OPENTSDB_TCP:
        return proto_opentsdb_lines(p, c, buf, n, final, consumed);
    default:
        return proto_graphite_lines(p, buf, n, final, consumed);
    }
}
