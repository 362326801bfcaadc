/*
 * The AMQP consumer thread (see amqp_source.h for what it guarantees).
 *
 * Life of a connection: open a TCP socket and log in (librabbitmq), open channel 1, declare the
 * exchange and the queue passively first and for real only when absent (so an existing queue
 * with other arguments, e.g. a quorum queue, is used as it is), bind, set the prefetch window
 * (basic.qos) and start a consumer with manual acknowledgements. Then frames are read one at a
 * time with a short timeout (basic.deliver, content header, body frames), so a body larger than
 * amqp.max_message_bytes is skipped frame by frame instead of being buffered.
 *
 * Acknowledgement protocol. Delivery tags on a channel count up from 1. After each burst of
 * messages (when no frame is waiting, or every 'flush_every' messages) the thread submits its
 * current batch with ingest_flush_durable(token = the last tag processed); the engine calls
 * on_durable(token) on its storage thread once the fsync covering that batch and every earlier
 * one is done, which stores the token in 'durable_tag'. The consumer thread then sends one
 * basic.ack(durable_tag, multiple = 1). Bad messages are inside those ranges and acknowledged
 * with them. So that acks do not wait a whole storage.sync_interval, engine_sync (no wait) is
 * requested once half the prefetch window is waiting. Before a connection is dropped (broker
 * gone, stop) the last batch is submitted and engine_sync(wait) makes every pending callback
 * fire; only then are the tags reset for the next channel. A callback with ok = false (store
 * read-only) stops acknowledgements for good: the consumer disconnects, the broker requeues.
 *
 * Everything that touches the librabbitmq connection runs on the consumer thread.
 */
#include "amqp/amqp_source.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/time.h"
#include "ingest/ingest.h"
#include "proto/amqp_body.h"
#include "proto/graphite_line.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define AMQP_CHANNEL 1
#define AMQP_BATCHES 8           /* batches of the consumer's Ingest */
#define AMQP_BATCH_POINTS 4096   /* points per batch */
#define AMQP_POLL_MS 50          /* longest wait for a frame or a free batch */
#define AMQP_BACKOFF_MIN_MS 100  /* first reconnect delay, doubled after each failure */
#define AMQP_BACKOFF_MAX_MS 3000 /* ... up to this */
#define AMQP_TIMEOUT_S 5         /* connect, handshake and each RPC */
#define AMQP_FRAME_MAX 131072    /* proposed frame size (librabbitmq's default) */
#define AMQP_FLUSH_MAX 256       /* most messages between two durable markers */
#define AMQP_CLOSE_WAIT_MS 5000  /* longest wait for a free batch when disconnecting */
#define AMQP_LOG_PER_SEC 10      /* bad-message log lines per second */
#define AMQP_CHUNK INGEST_MANY_MAX

typedef enum RxState {
    RX_IDLE,   /* between messages: a basic.deliver may come */
    RX_HEADER, /* after basic.deliver: the content header must come */
    RX_BODY    /* body frames until rx_got == rx_size */
} RxState;

struct AmqpSource {
    const Config *cfg; /* borrowed */
    Engine *e;         /* borrowed */
    Ingest *in;        /* owned; used by the consumer thread only */
    char *url_copy;    /* owned: amqp_parse_url's buffer, which 'ci' points into */
    struct amqp_connection_info ci;
    uint64_t flush_every; /* messages between durable markers */
    uint64_t sync_at;     /* unacknowledged flushed messages that trigger engine_sync */
    pthread_t thr;
    bool started; /* thr is running */
    atomic_bool stop;
    AmqpStats stats;
    LogLimit log_limit;

    /* Written by on_durable on the storage thread, read by the consumer thread. */
    _Atomic uint64_t durable_tag; /* highest delivery tag whose points are durable */
    atomic_bool store_failed;     /* a callback reported ok = false */

    /* Consumer thread only. */
    amqp_connection_state_t conn; /* NULL when disconnected */
    bool conn_broken;             /* the connection failed: no ack, no polite close */
    bool read_only;               /* the store refuses writes: consume no more */
    bool connected_once;          /* a connection was established before */
    uint64_t last_tag;            /* highest delivery tag fully processed on this channel */
    uint64_t flushed_tag;         /* last_tag at the last ingest_flush_durable */
    uint64_t synced_tag;          /* flushed_tag at the last engine_sync request */
    uint64_t acked_tag;           /* highest tag acknowledged */
    char why[256];                /* why the last connection attempt or connection failed */

    /* The message being received. */
    RxState rx;
    uint64_t rx_tag;
    uint8_t rx_key[256]; /* routing key (an AMQP shortstr: at most 255 bytes) */
    size_t rx_key_n;
    uint64_t rx_size;  /* body size from the content header */
    uint64_t rx_got;   /* body bytes seen */
    bool rx_oversized; /* rx_size > amqp.max_message_bytes: body frames are skipped */
    Buf body;          /* the body, when not oversized */
};

/* ---- small helpers ---- */

static void count(_Atomic uint64_t *c, uint64_t n)
{
    if (n)
        atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static void set_gauge(_Atomic uint64_t *g, uint64_t v)
{
    atomic_store_explicit(g, v, memory_order_relaxed);
}

static bool stopping(AmqpSource *s)
{
    return atomic_load_explicit(&s->stop, memory_order_acquire);
}

/* Sleep 'ms' in short steps; false if a stop was requested meanwhile. */
static bool nap_ms(AmqpSource *s, uint64_t ms)
{
    for (uint64_t slept = 0; slept < ms; slept += 20) {
        if (stopping(s))
            return false;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return !stopping(s);
}

/* Wait (bounded) until a batch may be free again; false if a stop was requested. */
static bool wait_for_batch(AmqpSource *s)
{
    if (stopping(s))
        return false;
    struct pollfd pfd = {.fd = ingest_wake_fd(s->in), .events = POLLIN, .revents = 0};
    if (poll(&pfd, 1, AMQP_POLL_MS) > 0 && (pfd.revents & POLLIN))
        ingest_drain_wake(s->in);
    return !stopping(s);
}

/* Log one piece of bad input at a bounded rate. */
static void log_bad(AmqpSource *s, const char *what, Slice text, const char *why)
{
    uint64_t sup;
    if (!log_limit_allow(&s->log_limit, AMQP_LOG_PER_SEC, &sup))
        return;
    int show = text.n > 400 ? 400 : (int)text.n;
    while (show > 0 && (text.p[show - 1] == '\r' || text.p[show - 1] == '\n'))
        show--;
    log_warn("amqp: %s (routing key '%.*s'), ignoring [%.*s]: %s (%llu similar messages "
             "suppressed)",
             what, (int)s->rx_key_n, (const char *)s->rx_key, show,
             show ? (const char *)text.p : "", why, (unsigned long long)sup);
}

/* IngestKeyFn: a Graphite name (from the body or the routing key) to its canonical key. */
static int amqp_key(void *ctx, Slice name, Buf *key)
{
    AmqpSource *s = ctx;
    TsError err = {0};
    if (graphite_name_to_key(name, (size_t)s->cfg->net.max_tags, (size_t)s->cfg->net.max_name_bytes,
                             key, &err) == TS_OK)
        return TS_OK;
    log_bad(s, "invalid series name", name, err.msg);
    return TS_ERR_PROTO;
}

/* PointBatch.on_durable, on the storage thread: remember how far the points are durable. */
static void on_durable(void *arg, uint64_t token, bool ok)
{
    AmqpSource *s = arg;
    if (!ok) {
        atomic_store(&s->store_failed, true);
        return;
    }
    uint64_t cur = atomic_load(&s->durable_tag);
    while (token > cur && !atomic_compare_exchange_weak(&s->durable_tag, &cur, token))
        ;
}

/* ---- messages ---- */

/* Outcome counts of one message. */
typedef struct MsgCounts {
    uint64_t points, nan, bad_lines, rejected;
    bool bad_name;
} MsgCounts;

/* Queue n parsed points (waiting for a free batch if needed); false if stopped meanwhile. */
static bool put_points(AmqpSource *s, const IngestPoint *pts, size_t n, MsgCounts *mc)
{
    while (!ingest_reserve(s->in, (uint32_t)n)) {
        if (!wait_for_batch(s))
            return false;
    }
    int rcs[AMQP_CHUNK];
    ingest_put_many_named(s->in, pts, n, amqp_key, s, rcs);
    for (size_t i = 0; i < n; i++) {
        if (rcs[i] == TS_OK) {
            mc->points++;
            continue;
        }
        mc->rejected++;
        if (rcs[i] == TS_ERR_READONLY)
            s->read_only = true;
        else if (rcs[i] == TS_ERR_LIMIT)
            log_bad(s, "new series refused", pts[i].key, "storage.max_series reached");
        else
            mc->bad_name = true;
    }
    return true;
}

/*
 * Decode the received message and queue its points. Returns false if a stop was requested
 * while waiting for a batch (the message is then left unprocessed and unacknowledged).
 */
static bool message_process(AmqpSource *s)
{
    MsgCounts mc = {0};
    bool bad = false;
    if (s->rx_oversized) {
        char why[96];
        snprintf(why, sizeof(why), "body of %llu bytes is over amqp.max_message_bytes (%llu)",
                 (unsigned long long)s->rx_size,
                 (unsigned long long)s->cfg->amqp.max_message_bytes);
        log_bad(s, "message too large", slice_make(NULL, 0), why);
        bad = true;
    } else {
        bool name_in_body = s->cfg->amqp.metric_name_in_body;
        Slice body = slice_make(s->body.p, s->body.n);
        Slice rk = slice_make(s->rx_key, s->rx_key_n);
        int64_t now_ns = ts_now_ns();
        IngestPoint pts[AMQP_CHUNK];
        size_t np = 0;
        size_t pos = 0;
        Slice line;
        while (amqp_body_next_line(body, &pos, &line)) {
            TsError err = {0};
            IngestPoint p;
            bool is_nan;
            int rc;
            if (name_in_body) {
                GraphiteLine g;
                rc = graphite_line_parse(line, now_ns, &g, &err);
                p = (IngestPoint){.key = g.name, .ts_ns = g.ts_ns, .value = g.value};
                is_nan = rc == TS_OK && g.is_nan;
            } else {
                AmqpValueLine v;
                rc = amqp_body_parse_value_line(line, now_ns, &v, &err);
                p = (IngestPoint){.key = rk, .ts_ns = v.ts_ns, .value = v.value};
                is_nan = rc == TS_OK && v.is_nan;
            }
            if (rc != TS_OK) {
                mc.bad_lines++;
                log_bad(s, "invalid message line", line, err.msg);
                continue;
            }
            if (is_nan) {
                mc.nan++;
                continue;
            }
            pts[np++] = p;
            if (np == AMQP_CHUNK) {
                if (!put_points(s, pts, np, &mc))
                    return false;
                np = 0;
            }
        }
        if (np && !put_points(s, pts, np, &mc))
            return false;
        bad = mc.bad_lines > 0 || mc.bad_name;
    }
    count(&s->stats.messages, 1);
    count(&s->stats.points, mc.points);
    count(&s->stats.nan_dropped, mc.nan);
    count(&s->stats.bad_lines, mc.bad_lines);
    count(&s->stats.points_rejected, mc.rejected);
    if (bad)
        count(&s->stats.bad_messages, 1);
    return true;
}

/* A whole message was received: process it and remember its tag. */
static void message_done(AmqpSource *s)
{
    s->rx = RX_IDLE;
    if (!message_process(s))
        return;
    /* A read-only store refused points: this message must not be acknowledged. */
    if (!s->read_only)
        s->last_tag = s->rx_tag;
}

/* ---- frames ---- */

/* Record why the connection is being dropped; returns TS_ERR_IO. */
static int conn_fail(AmqpSource *s, bool broken, const char *fmt, const char *detail)
{
    snprintf(s->why, sizeof(s->why), fmt, detail);
    if (broken)
        s->conn_broken = true;
    return TS_ERR_IO;
}

static int frame_method(AmqpSource *s, const amqp_frame_t *f)
{
    char detail[200];
    switch (f->payload.method.id) {
    case AMQP_BASIC_DELIVER_METHOD: {
        const amqp_basic_deliver_t *d = f->payload.method.decoded;
        if (s->rx != RX_IDLE)
            return conn_fail(s, true, "protocol error: %s", "basic.deliver inside a message");
        s->rx_tag = d->delivery_tag;
        s->rx_key_n = d->routing_key.len < sizeof(s->rx_key) ? d->routing_key.len : 0;
        if (s->rx_key_n)
            memcpy(s->rx_key, d->routing_key.bytes, s->rx_key_n);
        s->rx = RX_HEADER;
        return TS_OK;
    }
    case AMQP_CHANNEL_CLOSE_METHOD: {
        const amqp_channel_close_t *m = f->payload.method.decoded;
        snprintf(detail, sizeof(detail), "%u %.*s", (unsigned)m->reply_code, (int)m->reply_text.len,
                 (const char *)m->reply_text.bytes);
        amqp_channel_close_ok_t ok = {0};
        amqp_send_method(s->conn, AMQP_CHANNEL, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
        return conn_fail(s, true, "channel closed by the broker: %s", detail);
    }
    case AMQP_CONNECTION_CLOSE_METHOD: {
        const amqp_connection_close_t *m = f->payload.method.decoded;
        snprintf(detail, sizeof(detail), "%u %.*s", (unsigned)m->reply_code, (int)m->reply_text.len,
                 (const char *)m->reply_text.bytes);
        amqp_connection_close_ok_t ok = {0};
        amqp_send_method(s->conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
        return conn_fail(s, true, "connection closed by the broker: %s", detail);
    }
    case AMQP_BASIC_CANCEL_METHOD:
        return conn_fail(s, false, "consumer cancelled by the broker (%s)", "queue deleted?");
    default:
        return TS_OK; /* nothing else is expected; ignore */
    }
}

static int frame_handle(AmqpSource *s, const amqp_frame_t *f)
{
    switch (f->frame_type) {
    case AMQP_FRAME_METHOD:
        return frame_method(s, f);
    case AMQP_FRAME_HEADER:
        if (s->rx != RX_HEADER)
            return conn_fail(s, true, "protocol error: %s", "unexpected content header");
        s->rx_size = f->payload.properties.body_size;
        s->rx_got = 0;
        s->rx_oversized = s->rx_size > s->cfg->amqp.max_message_bytes;
        buf_clear(&s->body);
        if (!s->rx_oversized)
            buf_reserve(&s->body, (size_t)s->rx_size);
        s->rx = RX_BODY;
        if (s->rx_size == 0)
            message_done(s);
        return TS_OK;
    case AMQP_FRAME_BODY: {
        size_t n = f->payload.body_fragment.len;
        if (s->rx != RX_BODY || n > s->rx_size - s->rx_got)
            return conn_fail(s, true, "protocol error: %s", "unexpected body frame");
        if (!s->rx_oversized)
            buf_append(&s->body, f->payload.body_fragment.bytes, n);
        s->rx_got += n;
        if (s->rx_got == s->rx_size)
            message_done(s);
        return TS_OK;
    }
    default:
        return TS_OK; /* heartbeats are handled inside librabbitmq */
    }
}

/* ---- connection ---- */

/* Text of a failed RPC reply into s->why, prefixed by 'what'. */
static int reply_fail(AmqpSource *s, const char *what, amqp_rpc_reply_t r)
{
    switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        return TS_OK;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        snprintf(s->why, sizeof(s->why), "%s: %s", what, amqp_error_string2(r.library_error));
        break;
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
            const amqp_connection_close_t *m = r.reply.decoded;
            snprintf(s->why, sizeof(s->why), "%s: broker closed the connection: %u %.*s", what,
                     (unsigned)m->reply_code, (int)m->reply_text.len,
                     (const char *)m->reply_text.bytes);
        } else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
            const amqp_channel_close_t *m = r.reply.decoded;
            snprintf(s->why, sizeof(s->why), "%s: broker closed the channel: %u %.*s", what,
                     (unsigned)m->reply_code, (int)m->reply_text.len,
                     (const char *)m->reply_text.bytes);
        } else {
            snprintf(s->why, sizeof(s->why), "%s: broker error (method 0x%08x)", what,
                     (unsigned)r.reply.id);
        }
        break;
    default:
        snprintf(s->why, sizeof(s->why), "%s: no reply", what);
        break;
    }
    return TS_ERR_IO;
}

/* True if 'r' is the broker closing the channel with 404 NOT_FOUND (a passive declare). */
static bool reply_not_found(amqp_rpc_reply_t r)
{
    if (r.reply_type != AMQP_RESPONSE_SERVER_EXCEPTION || r.reply.id != AMQP_CHANNEL_CLOSE_METHOD)
        return false;
    const amqp_channel_close_t *m = r.reply.decoded;
    return m->reply_code == AMQP_NOT_FOUND;
}

/* After the broker closed the channel (passive declare of a missing object): reopen it. */
static int channel_reopen(AmqpSource *s)
{
    amqp_channel_close_ok_t ok = {0};
    if (amqp_send_method(s->conn, AMQP_CHANNEL, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok) !=
        AMQP_STATUS_OK)
        return reply_fail(s, "channel.close-ok", amqp_get_rpc_reply(s->conn));
    amqp_channel_open(s->conn, AMQP_CHANNEL);
    return reply_fail(s, "channel.open", amqp_get_rpc_reply(s->conn));
}

/* Declare the exchange and queue (passively first), bind, set qos, start consuming. */
static int conn_setup(AmqpSource *s)
{
    const Config *c = s->cfg;
    amqp_connection_state_t conn = s->conn;
    amqp_bytes_t ex = amqp_cstring_bytes(c->amqp.exchange);
    amqp_bytes_t q = amqp_cstring_bytes(c->amqp.queue);
    amqp_rpc_reply_t r;

    amqp_channel_open(conn, AMQP_CHANNEL);
    if (reply_fail(s, "channel.open", amqp_get_rpc_reply(conn)) != TS_OK)
        return TS_ERR_IO;

    amqp_exchange_declare(conn, AMQP_CHANNEL, ex, amqp_cstring_bytes("topic"), 1, 0, 0, 0,
                          amqp_empty_table);
    r = amqp_get_rpc_reply(conn);
    if (reply_not_found(r)) {
        if (channel_reopen(s) != TS_OK)
            return TS_ERR_IO;
        amqp_exchange_declare(conn, AMQP_CHANNEL, ex, amqp_cstring_bytes("topic"), 0, 1, 0, 0,
                              amqp_empty_table);
        r = amqp_get_rpc_reply(conn);
    }
    if (reply_fail(s, "exchange.declare", r) != TS_OK)
        return TS_ERR_IO;

    amqp_queue_declare(conn, AMQP_CHANNEL, q, 1, 0, 0, 0, amqp_empty_table);
    r = amqp_get_rpc_reply(conn);
    if (reply_not_found(r)) {
        if (channel_reopen(s) != TS_OK)
            return TS_ERR_IO;
        amqp_queue_declare(conn, AMQP_CHANNEL, q, 0, 1, 0, 0, amqp_empty_table);
        r = amqp_get_rpc_reply(conn);
    }
    if (reply_fail(s, "queue.declare", r) != TS_OK)
        return TS_ERR_IO;

    amqp_queue_bind(conn, AMQP_CHANNEL, q, ex, amqp_cstring_bytes(c->amqp.binding_key),
                    amqp_empty_table);
    if (reply_fail(s, "queue.bind", amqp_get_rpc_reply(conn)) != TS_OK)
        return TS_ERR_IO;
    amqp_basic_qos(conn, AMQP_CHANNEL, 0, (uint16_t)c->amqp.prefetch, 0);
    if (reply_fail(s, "basic.qos", amqp_get_rpc_reply(conn)) != TS_OK)
        return TS_ERR_IO;
    amqp_basic_consume(conn, AMQP_CHANNEL, q, amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    return reply_fail(s, "basic.consume", amqp_get_rpc_reply(conn));
}

/* Connect, log in and start consuming; on failure s->why says why and nothing is left open. */
static int conn_open(AmqpSource *s)
{
    struct timeval tv = {AMQP_TIMEOUT_S, 0};
    int heartbeat_s = (int)((s->cfg->amqp.heartbeat_ns + 999999999) / 1000000000);
    s->conn = amqp_new_connection();
    s->conn_broken = false;
    amqp_socket_t *sock = amqp_tcp_socket_new(s->conn);
    int rc = TS_ERR_IO;
    if (!sock) {
        snprintf(s->why, sizeof(s->why), "cannot create a socket");
        goto out;
    }
    amqp_set_handshake_timeout(s->conn, &tv);
    amqp_set_rpc_timeout(s->conn, &tv);
    int st = amqp_socket_open_noblock(sock, s->ci.host, s->ci.port, &tv);
    if (st != AMQP_STATUS_OK) {
        snprintf(s->why, sizeof(s->why), "cannot connect to %s:%d: %s", s->ci.host, s->ci.port,
                 amqp_error_string2(st));
        goto out;
    }
    amqp_rpc_reply_t r = amqp_login(s->conn, s->ci.vhost, 0, AMQP_FRAME_MAX, heartbeat_s,
                                    AMQP_SASL_METHOD_PLAIN, s->ci.user, s->ci.password);
    if (reply_fail(s, "login", r) != TS_OK)
        goto out;
    rc = conn_setup(s);
out:
    if (rc != TS_OK) {
        amqp_destroy_connection(s->conn);
        s->conn = NULL;
    }
    return rc;
}

/* Acknowledge every message whose points are durable (one cumulative basic.ack). */
static int ack_durable(AmqpSource *s)
{
    uint64_t d = atomic_load(&s->durable_tag);
    if (d <= s->acked_tag)
        return TS_OK;
    if (d > s->last_tag) /* never: tokens are tags processed on this channel */
        d = s->last_tag;
    int st = amqp_basic_ack(s->conn, AMQP_CHANNEL, d, 1);
    if (st != AMQP_STATUS_OK)
        return conn_fail(s, true, "basic.ack failed: %s", amqp_error_string2(st));
    count(&s->stats.acked, d - s->acked_tag);
    s->acked_tag = d;
    return TS_OK;
}

/* Submit a durable marker for everything processed so far; false if no batch is free. */
static bool mark_durable(AmqpSource *s)
{
    if (!ingest_flush_durable(s->in, on_durable, s, s->last_tag))
        return false;
    s->flushed_tag = s->last_tag;
    return true;
}

/*
 * Consume until a stop, an error (s->why) or a read-only store. Every wait is bounded by
 * AMQP_POLL_MS, so a stop is seen quickly.
 */
static void consume(AmqpSource *s)
{
    bool idle = false;
    for (;;) {
        if (stopping(s))
            return;
        if (atomic_load(&s->store_failed))
            s->read_only = true;
        if (s->read_only)
            return;
        if (ack_durable(s) != TS_OK)
            return;
        set_gauge(&s->stats.unacked, s->last_tag - s->acked_tag);
        if (s->last_tag > s->flushed_tag &&
            (idle || s->last_tag - s->flushed_tag >= s->flush_every)) {
            if (!mark_durable(s)) {
                wait_for_batch(s);
                continue;
            }
        }
        if (s->flushed_tag > s->synced_tag && s->flushed_tag - s->acked_tag >= s->sync_at) {
            engine_sync(s->e, false);
            s->synced_tag = s->flushed_tag;
        }
        /* With messages not yet marked, only look at what is already there (a burst ends when
         * nothing is waiting); otherwise wait a little for the next frame. */
        struct timeval tv = {0, s->last_tag > s->flushed_tag ? 0 : AMQP_POLL_MS * 1000};
        amqp_frame_t f;
        int st = amqp_simple_wait_frame_noblock(s->conn, &f, &tv);
        if (st == AMQP_STATUS_TIMEOUT) {
            idle = true;
            continue;
        }
        if (st != AMQP_STATUS_OK) {
            conn_fail(s, true, "%s", amqp_error_string2(st));
            return;
        }
        idle = false;
        if (f.channel != 0 && f.channel != AMQP_CHANNEL)
            continue;
        if (frame_handle(s, &f) != TS_OK)
            return;
        amqp_maybe_release_buffers(s->conn);
    }
}

/*
 * Leave the connection: mark what was processed, wait for the fsync that makes it durable
 * (every pending on_durable has then run), acknowledge it if the connection still works, close
 * and reset the per-channel state for the next connection.
 */
static void conn_close(AmqpSource *s)
{
    if (s->last_tag > s->flushed_tag && !s->read_only) {
        for (uint64_t waited = 0; waited < AMQP_CLOSE_WAIT_MS; waited += AMQP_POLL_MS) {
            if (mark_durable(s))
                break;
            struct pollfd pfd = {.fd = ingest_wake_fd(s->in), .events = POLLIN, .revents = 0};
            if (poll(&pfd, 1, AMQP_POLL_MS) > 0 && (pfd.revents & POLLIN))
                ingest_drain_wake(s->in);
        }
    }
    engine_sync(s->e, true);
    if (atomic_load(&s->store_failed))
        s->read_only = true;
    if (!s->conn_broken && ack_durable(s) == TS_OK) {
        amqp_channel_close(s->conn, AMQP_CHANNEL, AMQP_REPLY_SUCCESS);
        amqp_connection_close(s->conn, AMQP_REPLY_SUCCESS);
    }
    amqp_destroy_connection(s->conn);
    s->conn = NULL;
    s->last_tag = s->flushed_tag = s->synced_tag = s->acked_tag = 0;
    atomic_store(&s->durable_tag, 0);
    s->rx = RX_IDLE;
    set_gauge(&s->stats.unacked, 0);
    set_gauge(&s->stats.connected, 0);
}

static void *consumer_main(void *arg)
{
    AmqpSource *s = arg;
    uint64_t backoff_ms = AMQP_BACKOFF_MIN_MS;
    bool said_read_only = false;
    while (!stopping(s)) {
        if (s->read_only || engine_read_only(s->e)) {
            if (!said_read_only)
                log_error("amqp: the store is read-only; not consuming until restart");
            said_read_only = true;
            nap_ms(s, 100);
            continue;
        }
        if (conn_open(s) != TS_OK) {
            count(&s->stats.connect_failures, 1);
            log_warn("amqp: %s; retrying in %llu ms", s->why, (unsigned long long)backoff_ms);
            nap_ms(s, backoff_ms);
            backoff_ms =
                backoff_ms * 2 > AMQP_BACKOFF_MAX_MS ? AMQP_BACKOFF_MAX_MS : backoff_ms * 2;
            continue;
        }
        if (s->connected_once)
            count(&s->stats.reconnects, 1);
        s->connected_once = true;
        backoff_ms = AMQP_BACKOFF_MIN_MS;
        set_gauge(&s->stats.connected, 1);
        log_info("amqp: consuming queue '%s' on %s:%d vhost '%s' (exchange '%s', binding '%s')",
                 s->cfg->amqp.queue, s->ci.host, s->ci.port, s->ci.vhost, s->cfg->amqp.exchange,
                 s->cfg->amqp.binding_key);
        s->why[0] = '\0';
        consume(s);
        bool lost = !stopping(s) && !s->read_only;
        conn_close(s);
        if (lost) {
            log_warn("amqp: connection lost: %s; reconnecting", s->why);
            nap_ms(s, backoff_ms);
        }
    }
    return NULL;
}

/* ---- public ---- */

int amqp_source_start(const Config *cfg, Engine *e, SeriesIndex *ix, AmqpSource **out, TsError *err)
{
    *out = NULL;
    if (cfg->amqp.url[0] == '\0')
        return TS_OK;
    AmqpSource *s = ts_calloc(1, sizeof(*s));
    s->cfg = cfg;
    s->e = e;
    s->url_copy = ts_strdup(cfg->amqp.url);
    amqp_default_connection_info(&s->ci);
    int st = amqp_parse_url(s->url_copy, &s->ci);
    if (st != AMQP_STATUS_OK || s->ci.ssl) {
        int rc = ts_error(err, TS_ERR_PROTO, 0, "amqp.url: %s",
                          st != AMQP_STATUS_OK ? amqp_error_string2(st) : "TLS is not supported");
        amqp_source_free(s);
        return rc;
    }
    uint64_t p = cfg->amqp.prefetch;
    s->flush_every = p / 4 > AMQP_FLUSH_MAX ? AMQP_FLUSH_MAX : (p / 4 ? p / 4 : 1);
    s->sync_at = p / 2 ? p / 2 : 1;
    s->in = ingest_new(e, ix, AMQP_BATCHES, AMQP_BATCH_POINTS);
    buf_init(&s->body);
    if (pthread_create(&s->thr, NULL, consumer_main, s) != 0) {
        int rc = ts_error(err, TS_ERR_IO, 0, "amqp: cannot start the consumer thread");
        amqp_source_free(s);
        return rc;
    }
    pthread_setname_np(s->thr, "cairn-amqp");
    s->started = true;
    *out = s;
    return TS_OK;
}

void amqp_source_stop(AmqpSource *s)
{
    if (!s || !s->started)
        return;
    atomic_store_explicit(&s->stop, true, memory_order_release);
    pthread_join(s->thr, NULL);
    s->started = false;
}

void amqp_source_free(AmqpSource *s)
{
    if (!s)
        return;
    amqp_source_stop(s);
    ingest_free(s->in);
    buf_deinit(&s->body);
    ts_free(s->url_copy);
    ts_free(s);
}

const AmqpStats *amqp_source_stats(const AmqpSource *s)
{
    return s ? &s->stats : NULL;
}
