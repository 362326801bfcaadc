/*
 * Protocol handlers of the ingest listeners: they take received bytes, decode them with the
 * pure parsers of proto/, map names to canonical series keys and hand points to ingest/.
 * Private to net/.
 *
 * Every handler has the same contract (proto_handle): parse what is complete in buf[0..n),
 * report how many bytes it consumed, queue replies in the connection's reply buffer, and say
 * whether to keep reading, pause (no free batch: backpressure) or close.
 */
#ifndef CAIRN_NET_PROTOCOLS_H
#define CAIRN_NET_PROTOCOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/log.h"
#include "index/series_index.h"
#include "ingest/ingest.h"
#include "net/net.h"

typedef enum ProtoResult {
    PROTO_OK = 0,        /* everything complete was consumed */
    PROTO_PAUSE,         /* no free batch: stop reading, resume later at *consumed */
    PROTO_LINE_TOO_LONG, /* a line exceeds its cap (plaintext: close, as carbon does) */
    PROTO_CLOSE          /* send the queued reply, then close the connection */
} ProtoResult;

/* Per-worker protocol state; counters are summed locally and published once per call. */
typedef struct ProtoCtx {
    const Config *cfg;       /* borrowed */
    SeriesIndex *ix;         /* borrowed */
    Ingest *in;              /* borrowed: the worker's ingest */
    NetListenerStats *stats; /* borrowed: array indexed by listener */
    LogLimit *log_limit;     /* borrowed: shared limiter for bad-input log lines */
    const char *version;     /* server version for protocol replies */
    int listener;            /* listener of the bytes being parsed */
    const char *peer;        /* peer address for logs */
    Buf key;                 /* scratch for canonical keys */
    Arena arena;             /* per-frame scratch (pickle), capped */
    /* Owned: the worker's RESP name-line cache (resp_in.c), NULL until first used; freed by
     * proto_ctx_deinit, after every connection (and so every RESP parser) is gone. */
    struct RespNames *resp_names;
} ProtoCtx;

/* One decoded point waiting for room in a batch; its key is in PendingPoints.keys, unless 'id'
 * (nonzero) already names its series (pending_push_id). An event (pending_push_event) has its
 * text in PendingPoints.keys at key_off, key_len bytes, and no value. */
typedef struct PendingPoint {
    size_t key_off;
    uint32_t key_len;
    bool is_event;
    int64_t ts_ns;
    double value;
    uint64_t id;
} PendingPoint;

/*
 * Points of a decoded unit (a pickle frame, RESP messages) that did not fit into a batch yet.
 * Bounded by the unit sizes the handlers decode at once.
 */
typedef struct PendingPoints {
    Buf keys;          /* key bytes of pts[head..n) (and of drained ones until reset) */
    IngestKeyFn key_fn; /* NULL: keys are canonical; else they are names as sent, built by it */
    PendingPoint *pts; /* owned array of cap */
    size_t n, cap;     /* in use / allocated */
    size_t head;       /* pts[head..n) still wait */
} PendingPoints;

struct RespParser;
struct RespNames;

/* Per-connection protocol state, embedded in the connection. */
typedef struct ProtoConn {
    int listener;            /* NET_GRAPHITE_TCP ... */
    Buf reply;               /* bytes to send back (RESP errors, OpenTSDB replies) */
    PendingPoints pending;   /* decoded points waiting for a batch */
    struct RespParser *resp; /* RESP session (dictionary), created on first use */
} ProtoConn;

void proto_ctx_init(ProtoCtx *p, const Config *cfg, SeriesIndex *ix, Ingest *in,
                    NetListenerStats *stats, LogLimit *limit, const char *version);
void proto_ctx_deinit(ProtoCtx *p);
void proto_conn_init(ProtoConn *c, int listener);
void proto_conn_deinit(ProtoConn *c);

/*
 * Handle received bytes buf[0..n) of connection 'c'. 'final' is true when no more bytes will
 * follow the unit in buf (TCP EOF, end of a UDP datagram). *consumed receives how many bytes
 * were fully handled; the caller keeps the rest for the next call. Bad input is counted, logged
 * at a bounded rate, and answered as the protocol's real servers do.
 */
ProtoResult proto_handle(ProtoCtx *p, ProtoConn *c, const uint8_t *buf, size_t n, bool final,
                         size_t *consumed);

/* Largest receive buffer a connection of 'listener' may need (a whole line, frame or message
 * plus read slack). */
size_t proto_rx_cap(const Config *cfg, int listener);

/* IngestKeyFn for Graphite names (plaintext, pickle): validate and canonicalise; a refusal is
 * logged and reported as TS_ERR_PROTO (a bad name). ctx is the ProtoCtx. */
int proto_graphite_key(void *ctx, Slice name, Buf *key);

/* Graphite plaintext lines (graphite.c). */
ProtoResult proto_graphite_lines(ProtoCtx *p, const uint8_t *buf, size_t n, bool final,
                                 size_t *consumed);

/* Log one bad input unit at a bounded rate: "<listener>: <what> from client <peer>, ignoring
 * [<first 400 bytes>]: <why>". */
void proto_log_bad(ProtoCtx *p, const char *what, const uint8_t *line, size_t n, const char *why);

/* Count one refused point by its reason: ingest's status (TS_ERR_LIMIT: series cap,
 * TS_ERR_READONLY, anything else: a bad name), and log series-cap refusals (rate-limited). */
void proto_count_rejection(ProtoCtx *p, int rc, Slice what);

/* Queue a decoded point; drain queued points into ingest (false: no batch free, pause). */
void pending_push(PendingPoints *q, Slice key, int64_t ts_ns, double value);
/* Queue a point of a series resolved already (id from ingest_resolve_writable or the like). */
/* Queue an event of series 'id' (an event series); the text is copied. */
void pending_push_event(PendingPoints *q, uint64_t id, int64_t ts_ns, Slice text);
void pending_push_id(PendingPoints *q, uint64_t id, int64_t ts_ns, double value);
bool pending_drain(ProtoCtx *p, PendingPoints *q);

#endif
