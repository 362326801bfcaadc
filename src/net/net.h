/*
 * NetServer: the ingest listeners and their event-loop threads.
 *
 * net.threads worker threads each run an EvLoop with their own SO_REUSEPORT socket per
 * listener, their own connections and their own Ingest (so the kernel spreads connections and
 * datagrams across cores and no lock is shared on the hot path). Every connection has a capped
 * receive buffer; when the storage engine falls behind, the worker stops reading (backpressure)
 * instead of buffering more.
 */
#ifndef CAIRN_NET_NET_H
#define CAIRN_NET_NET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "core/status.h"
#include "index/series_index.h"
#include "storage/engine.h"

/* Counters of one listener, shared by all workers (relaxed atomics). */
typedef struct NetListenerStats {
    const char *name;                       /* e.g. "graphite_tcp" */
    _Atomic uint64_t connections_total;     /* accepted connections */
    _Atomic uint64_t connections_open;      /* currently open */
    _Atomic uint64_t connections_refused;   /* refused by net.max_connections */
    _Atomic uint64_t bytes;                 /* bytes received */
    _Atomic uint64_t datagrams;             /* UDP datagrams received */
    _Atomic uint64_t points_received;       /* well-formed points seen (incl. NaN) */
    _Atomic uint64_t points_accepted;       /* points handed to storage */
    _Atomic uint64_t points_rejected;       /* points refused (series limit, read-only, bad name) */
    _Atomic uint64_t nan_dropped;           /* NaN values dropped silently (carbon) */
    _Atomic uint64_t bad_lines;             /* lines that failed to parse */
    _Atomic uint64_t bad_frames;            /* pickle frames, RESP messages rejected whole */
    _Atomic uint64_t long_lines;            /* lines over the cap (TCP: connection closed) */
    _Atomic uint64_t rejected_bad_name;     /* points refused: invalid series name */
    _Atomic uint64_t rejected_series_limit; /* points refused: storage.max_series reached */
    _Atomic uint64_t rejected_read_only;    /* points refused: the store is read-only */
    _Atomic uint64_t idle_closed;           /* connections closed by net.idle_timeout */
} NetListenerStats;

enum {
    NET_GRAPHITE_TCP = 0, /* graphite.plaintext */
    NET_GRAPHITE_UDP,     /* graphite.udp */
    NET_PICKLE_TCP,       /* graphite.pickle */
    NET_RESP_TCP,         /* resp.tcp */
    NET_RESP_UDP,         /* resp.udp */
    NET_OPENTSDB_TCP,     /* opentsdb.tcp */
    NET_LISTENERS
};

typedef struct NetServer NetServer;

/*
 * Bind every enabled listener of 'cfg' and start the worker threads. 'e' and 'ix' are borrowed
 * and must outlive the server. Caller owns *out: net_stop, then engine_close, then net_free.
 */
int net_start(const Config *cfg, Engine *e, SeriesIndex *ix, NetServer **out, TsError *err);
/* Stop accepting and reading, close connections, submit partial batches, join the threads. */
void net_stop(NetServer *s);
/* Free everything (after engine_close has returned every batch). NULL is a no-op. */
void net_free(NetServer *s);
/*
 * A bound, non-blocking, close-on-exec socket for listener address 'l' (TCP: listening). 'shared'
 * sets SO_REUSEPORT so several event loops can each bind one. *bound receives the port actually
 * bound (useful with port 0). Returns the fd, or TS_ERR_IO with err->msg naming the address.
 */
int net_listen_socket(const ConfListen *l, bool udp, bool shared, uint16_t *bound, TsError *err);

/* Listener counters, indexed by NET_GRAPHITE_TCP ...; borrowed, valid until net_free. */
const NetListenerStats *net_stats(const NetServer *s);
/* Port actually bound for a listener (0 if disabled), for logs and tests. */
uint16_t net_bound_port(const NetServer *s, int listener);

#endif
