/*
 * Akumuli RESP listener, TCP and UDP (reference/akumuli.md §3-4).
 *
 * TCP: nothing is written on success; on the first error exactly Akumuli's line (built by the
 * pure parser in proto/resp.c) is sent and the connection closed. The dictionary of a session
 * lives in the connection's parser. UDP: every datagram gets a fresh parser; an error drops the
 * rest of the datagram (counted), nothing is sent back.
 *
 * All complete messages in the receive buffer are parsed at once; the buffer's cap bounds the
 * queue of decoded points waiting for a batch. Event series (`!name`, string values) go to
 * ingest_put_event with their timestamps cut to the microsecond (Akumuli stores events with
 * microsecond precision). With resp.late_writes = reject, a point or event older than the newest
 * one of its series is answered "-DB late write" and the connection closed, as Akumuli.
 *
 * Every parser of a worker shares the worker's RespNames cache (ProtoCtx.resp_names), so a
 * name line seen before, on any connection or datagram, skips canonicalisation; its ref slots
 * hold the series ids, so such points go to ingest by id (no key hashing either).
 */
#include "core/time.h"
#include "net/handlers.h"
#include "proto/resp.h"

#include <string.h>

typedef struct RespSink {
    ProtoCtx *p;
    ProtoConn *c;
    uint64_t received;
    const char *error; /* the reply line when on_point refused a point */
} RespSink;

static int on_point(void *ctx, Slice key, uint64_t *ref, int64_t ts_ns, double value, bool is_event,
                    Slice text)
{
    RespSink *k = ctx;
    /* Event timestamps are kept to the microsecond, as Akumuli stores them. */
    if (is_event)
        ts_ns -= ((ts_ns % 1000) + 1000) % 1000;
    /* *ref caches the series id with the name line (or dictionary id) that named the key. */
    uint64_t id = *ref;
    int rc = TS_OK;
    if (id == 0) {
        rc = ingest_resolve_writable(k->p->in, key, &id);
        if (rc == TS_OK)
            *ref = id;
    }
    if (rc == TS_OK && k->p->cfg->resp.late_writes == CONF_LATE_REJECT) {
        /* Akumuli: per series, a timestamp older than the newest one is refused. */
        bool late = false;
        if (series_index_check_order(k->p->ix, id, ts_ns, &late) == TS_OK && late) {
            k->error = "-DB late write\r\n";
            return TS_ERR_PROTO;
        }
    }
    k->received++;
    if (rc != TS_OK) {
        /* What ingest would have answered for the point: the series cap, a read-only store. */
        proto_count_rejection(k->p, rc, key);
        return TS_OK;
    }
    if (is_event)
        pending_push_event(&k->c->pending, id, ts_ns, text);
    else
        pending_push_id(&k->c->pending, id, ts_ns, value);
    return TS_OK;
}

void proto_resp_free(ProtoConn *c)
{
    resp_parser_free(c->resp);
    c->resp = NULL;
}

static RespParser *parser_for(ProtoCtx *p, ProtoConn *c)
{
    if (!c->resp) {
        RespLimits lim = {.max_name_bytes = (size_t)p->cfg->net.max_name_bytes,
                          .max_tags = (size_t)p->cfg->net.max_tags};
        c->resp = resp_parser_new(&lim);
        if (!p->resp_names)
            p->resp_names = resp_names_new(&lim, 0);
        resp_parser_set_names(c->resp, p->resp_names);
    }
    return c->resp;
}

ProtoResult proto_resp_messages(ProtoCtx *p, ProtoConn *c, const uint8_t *buf, size_t n, bool final,
                                size_t *consumed)
{
    NetListenerStats *st = &p->stats[p->listener];
    bool udp = c->listener == NET_RESP_UDP;
    RespSink sink = {.p = p, .c = c};
    ProtoResult r = PROTO_OK;
    size_t pos = 0;
    size_t used = 0;
    size_t reply_before = c->reply.n;
    /* The whole buffer at once (at most proto_rx_cap bytes), so an error's context is complete. */
    int rc = resp_parse(parser_for(p, c), buf, n, on_point, &sink, &used, &c->reply);
    pos = used;
    if (rc != TS_OK) {
        atomic_fetch_add(&st->bad_frames, 1);
        if (c->reply.n == reply_before)
            buf_puts(&c->reply, sink.error ? sink.error : "-ERR internal error\r\n");
        proto_log_bad(p, "RESP error", c->reply.p + reply_before, c->reply.n - reply_before,
                      "connection closed after the reply");
        if (udp) {
            /* Nothing goes back over UDP; the rest of the datagram is dropped. */
            buf_clear(&c->reply);
            proto_resp_free(c);
            pos = n;
        } else {
            r = PROTO_CLOSE;
        }
    }
    /* Points of the messages before an error are stored too (best effort when closing). */
    if (!pending_drain(p, &c->pending) && r == PROTO_OK)
        r = PROTO_PAUSE;
    if (udp && final && r != PROTO_PAUSE) {
        /* A message cut by the end of a datagram is not reassembled. */
        pos = n;
        proto_resp_free(c);
    }
    *consumed = pos;
    if (sink.received)
        atomic_fetch_add_explicit(&st->points_received, sink.received, memory_order_relaxed);
    return r;
}
