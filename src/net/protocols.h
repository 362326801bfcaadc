/*
 * Protocol handlers of the ingest listeners: they take received bytes, decode them with the
 * pure parsers of proto/, map names to canonical series keys and hand points to ingest/.
 * Private to net/.
 */
#ifndef CAIRN_NET_PROTOCOLS_H
#define CAIRN_NET_PROTOCOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "core/buf.h"
#include "core/log.h"
#include "index/series_index.h"
#include "ingest/ingest.h"
#include "net/net.h"

typedef enum ProtoResult {
    PROTO_OK = 0,       /* everything complete was consumed */
    PROTO_PAUSE,        /* no free batch: stop reading, resume later at *consumed */
    PROTO_LINE_TOO_LONG /* a line exceeds graphite.max_line_bytes */
} ProtoResult;

/* Per-worker protocol state; counters are summed locally and published once per call. */
typedef struct ProtoCtx {
    const Config *cfg;       /* borrowed */
    SeriesIndex *ix;         /* borrowed */
    Ingest *in;              /* borrowed: the worker's ingest */
    NetListenerStats *stats; /* borrowed: array indexed by listener */
    LogLimit *log_limit;     /* borrowed: shared limiter for bad-input log lines */
    int listener;            /* listener of the bytes being parsed */
    const char *peer;        /* peer address for logs */
    Buf key;                 /* scratch for canonical keys */
} ProtoCtx;

void proto_ctx_init(ProtoCtx *p, const Config *cfg, SeriesIndex *ix, Ingest *in,
                    NetListenerStats *stats, LogLimit *limit);
void proto_ctx_deinit(ProtoCtx *p);

/*
 * Parse Graphite plaintext lines from buf[0..n). Complete lines end with '\n'; when 'final' is
 * true (TCP EOF, or a UDP datagram) a last line without '\n' is parsed too. *consumed receives
 * how many bytes were fully handled (the caller keeps the rest). Bad lines are counted, logged at
 * a bounded rate and skipped.
 */
ProtoResult proto_graphite_lines(ProtoCtx *p, const uint8_t *buf, size_t n, bool final,
                                 size_t *consumed);

#endif
