/*
 * AmqpSource: the AMQP (RabbitMQ) consumer, one thread with its own Ingest.
 *
 * It connects to amqp.url with librabbitmq, declares (if absent) a durable topic exchange and a
 * durable queue, binds them with amqp.binding_key and consumes with manual acknowledgements and
 * a prefetch window. Message bodies are decoded by proto/amqp_body and proto/graphite_line and
 * their points go through ingest/ like any listener's. A message is acknowledged only once the
 * WAL fsync covering its points has completed (PointBatch.on_durable), with one cumulative
 * basic.ack (multiple = 1) per step of progress, so a crash of cairnd at any point means
 * redelivery, never loss; a point written twice keeps one copy (same series and timestamp).
 * Malformed messages are counted, logged at a bounded rate and acknowledged with the rest.
 * When the broker goes away the thread waits for its queued points to be durable, drops the
 * connection (the broker requeues what was not acknowledged) and reconnects with backoff; the
 * other listeners are never blocked by it. When the store turns read-only, nothing more is
 * acknowledged and the consumer disconnects and stays off.
 *
 * librabbitmq connections are not thread-safe: only the consumer thread touches one.
 */
#ifndef CAIRN_AMQP_AMQP_SOURCE_H
#define CAIRN_AMQP_AMQP_SOURCE_H

#include <stdatomic.h>
#include <stdint.h>

#include "conf/conf.h"
#include "core/status.h"
#include "index/series_index.h"
#include "storage/engine.h"

/* Counters and gauges of the consumer (relaxed atomics, written by its thread). */
typedef struct AmqpStats {
    _Atomic uint64_t messages;         /* messages received (bad ones included) */
    _Atomic uint64_t points;           /* points handed to storage */
    _Atomic uint64_t bad_messages;     /* messages with a bad line or name, or over the size cap */
    _Atomic uint64_t bad_lines;        /* body lines that failed to parse */
    _Atomic uint64_t nan_dropped;      /* points with a NaN value dropped (carbon does) */
    _Atomic uint64_t points_rejected;  /* points refused: bad name, series limit, read-only */
    _Atomic uint64_t acked;            /* messages acknowledged to the broker */
    _Atomic uint64_t reconnects;       /* connections established after the first one */
    _Atomic uint64_t connect_failures; /* connection attempts that failed */
    _Atomic uint64_t unacked;          /* gauge: messages received, not yet acknowledged */
    _Atomic uint64_t connected;        /* gauge: 1 while consuming */
} AmqpStats;

typedef struct AmqpSource AmqpSource;

/*
 * Check cfg->amqp (the URL is parsed with librabbitmq) and start the consumer thread; it
 * connects in the background, so an unreachable broker does not fail the start. Returns TS_OK
 * with *out set (NULL when amqp.url is empty: no consumer), or TS_ERR_PROTO with err->msg for a
 * bad URL. 'cfg', 'e' and 'ix' are borrowed and must outlive the source. Caller owns *out:
 * amqp_source_stop, then engine_close, then amqp_source_free.
 */
int amqp_source_start(const Config *cfg, Engine *e, SeriesIndex *ix, AmqpSource **out,
                      TsError *err);

/*
 * Stop consuming: the thread submits its last points, waits for the fsync that makes them
 * durable, acknowledges them, closes the channel and connection, and exits; this joins it.
 * Unacknowledged messages stay in the queue. NULL is a no-op; call before engine_close.
 */
void amqp_source_stop(AmqpSource *s);

/* Free everything (after engine_close has returned every batch). NULL is a no-op. */
void amqp_source_free(AmqpSource *s);

/* The counters; borrowed, valid until amqp_source_free. NULL for a NULL source. */
const AmqpStats *amqp_source_stats(const AmqpSource *s);

#endif
