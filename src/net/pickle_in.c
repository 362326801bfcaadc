/*
 * Graphite pickle listener: frames of a 4-byte big-endian length and a pickle of
 * [(path, (timestamp, value)), ...] (reference/graphite.md §4).
 *
 * A frame over graphite.pickle_max_bytes, an undecodable frame, or one using any opcode beyond
 * the data subset (GLOBAL, REDUCE, ... : nothing is ever executed) is counted in bad_frames and
 * closes the connection; nothing from it is stored. Entries of a good frame with a bad name or
 * number are skipped and counted; the rest is stored with the plaintext rules (NaN dropped,
 * timestamps truncated to seconds, -1 = now).
 *
 * Points go to ingest in chunks of INGEST_MANY_MAX through ingest_put_many_named (names as
 * sent, borrowed from the receive buffer: a name seen before costs one lookup in the thread's
 * name cache). Only when no batch is free are they copied into the connection's pending queue;
 * every chunk is handed over before the next frame is decoded, so a later frame's refusal never
 * holds back the points of the frames before it.
 */
#include "core/endian.h"
#include "core/time.h"
#include "net/handlers.h"
#include "proto/pickle.h"

#include <math.h>
#include <stdio.h>

typedef struct PickleSink {
    ProtoCtx *p;
    ProtoConn *c;
    int64_t now_ns;
    uint64_t received, nan, bad_entries; /* bad_entries: skipped for their shape or numbers */
    uint64_t accepted;                   /* stored straight from the chunk */
    size_t nchunk;
    IngestPoint chunk[INGEST_MANY_MAX]; /* decoded points; names borrowed from the frame */
} PickleSink;

/* Hand the chunk to ingest, or queue it (names copied) when a batch is not free or points
 * are waiting already (they go first). */
static void sink_flush(PickleSink *k)
{
    PendingPoints *q = &k->c->pending;
    size_t n = k->nchunk;
    if (!n)
        return;
    k->nchunk = 0;
    if (q->head == q->n && ingest_reserve(k->p->in, (uint32_t)n)) {
        int rcs[INGEST_MANY_MAX];
        ingest_put_many_named(k->p->in, k->chunk, n, proto_graphite_key, k->p, rcs);
        for (size_t i = 0; i < n; i++) {
            if (rcs[i] == TS_OK)
                k->accepted++;
            else
                proto_count_rejection(k->p, rcs[i], k->chunk[i].key);
        }
        return;
    }
    q->key_fn = proto_graphite_key;
    for (size_t i = 0; i < n; i++)
        pending_push(q, k->chunk[i].key, k->chunk[i].ts_ns, k->chunk[i].value);
}

static int on_point(void *ctx, Slice name, double ts_s, double value)
{
    PickleSink *k = ctx;
    k->received++;
    if (isnan(value)) {
        k->nan++;
        return TS_OK;
    }
    /* As carbon: int(float(ts)); -1 means now; out-of-range or non-finite is a bad entry. */
    if (!isfinite(ts_s) || ts_s >= 9.2e9 || ts_s <= -9.2e9) {
        k->bad_entries++;
        return TS_OK;
    }
    int64_t ts = (int64_t)ts_s;
    int64_t ts_ns = ts == -1 ? k->now_ns - k->now_ns % TS_NS_PER_SEC : ts * TS_NS_PER_SEC;
    /* The name as sent: ingest maps names it has seen to their series directly and builds
     * (and validates) the canonical key only for new ones. */
    k->chunk[k->nchunk++] = (IngestPoint){name, ts_ns, value, 0};
    if (k->nchunk == INGEST_MANY_MAX)
        sink_flush(k);
    return TS_OK;
}

ProtoResult proto_pickle_frames(ProtoCtx *p, ProtoConn *c, const uint8_t *buf, size_t n,
                                size_t *consumed)
{
    NetListenerStats *st = &p->stats[p->listener];
    static const PickleLimits lim = {.max_depth = 64, .max_items = 4000000, .max_memo = 1000000};
    size_t pos = 0;
    ProtoResult r = PROTO_OK;
    PickleSink sink;
    sink.p = p;
    sink.c = c;
    sink.now_ns = ts_now_ns();
    sink.received = sink.nan = sink.bad_entries = sink.accepted = 0;
    sink.nchunk = 0;
    while (n - pos >= 4) {
        uint32_t len = get_u32be(buf + pos);
        if (len > p->cfg->graphite.pickle_max_bytes) {
            atomic_fetch_add(&st->bad_frames, 1);
            char why[96];
            snprintf(why, sizeof(why), "frame of %u bytes exceeds graphite.pickle_max_bytes", len);
            proto_log_bad(p, "oversized pickle frame", (const uint8_t *)"", 0, why);
            r = PROTO_CLOSE;
            break;
        }
        if (n - pos - 4 < len)
            break;
        arena_reset(&p->arena);
        size_t skipped = 0;
        TsError err = {0};
        int rc = pickle_decode_points(slice_make(buf + pos + 4, len), &lim, &p->arena, on_point,
                                      &sink, &skipped, &err);
        pos += 4 + (size_t)len;
        if (rc != TS_OK) {
            /* Nothing of a rejected frame was reported: the decoder calls on_point only after
             * a full, successful decode. */
            atomic_fetch_add(&st->bad_frames, 1);
            char why[200];
            snprintf(why, sizeof(why), "invalid pickle: %s (at byte %zu)", err.msg, err.pos);
            proto_log_bad(p, "invalid pickle received", (const uint8_t *)"", 0, why);
            r = PROTO_CLOSE;
            break;
        }
        sink.bad_entries += skipped;
        sink_flush(&sink);
        if (c->pending.head < c->pending.n && !pending_drain(p, &c->pending)) {
            r = PROTO_PAUSE;
            break;
        }
    }
    *consumed = pos;
    if (sink.received)
        atomic_fetch_add_explicit(&st->points_received, sink.received, memory_order_relaxed);
    if (sink.accepted)
        atomic_fetch_add_explicit(&st->points_accepted, sink.accepted, memory_order_relaxed);
    if (sink.nan)
        atomic_fetch_add_explicit(&st->nan_dropped, sink.nan, memory_order_relaxed);
    if (sink.bad_entries) {
        atomic_fetch_add_explicit(&st->points_rejected, sink.bad_entries, memory_order_relaxed);
        atomic_fetch_add_explicit(&st->bad_lines, sink.bad_entries, memory_order_relaxed);
    }
    return r;
}
