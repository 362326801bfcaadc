/*
 * HttpServer: the HTTP API on http.listen (libmicrohttpd, its own thread pool, so queries never
 * run on an ingest thread).
 *
 * Routes (a trailing '/' is ignored):
 *   POST /api/query   Akumuli JSON query (query/akumuli.c); body read whatever its content type
 *   GET  /metrics     the server's counters in Prometheus text format
 *   GET  /health      {"status":"ok"|"read-only", ...} with 200, or 503 when read-only
 *   anything else     404 "-Invalid url <path>\r\n" (Akumuli's reply); other methods
 *                     404 "-Invalid request\r\n"
 */
#ifndef CAIRN_HTTP_HTTP_H
#define CAIRN_HTTP_HTTP_H

#include <stdint.h>

#include "amqp/amqp_source.h"
#include "conf/conf.h"
#include "core/status.h"
#include "index/series_index.h"
#include "net/net.h"
#include "storage/engine.h"

typedef struct HttpServer HttpServer;

/* What the handlers read; all borrowed and alive until http_stop returns. */
typedef struct HttpDeps {
    const Config *cfg;
    Engine *engine;
    SeriesIndex *ix;
    NetServer *net;        /* may be NULL (no ingest listeners) */
    int64_t started_ns;    /* wall-clock start time, for uptime */
    const AmqpStats *amqp; /* may be NULL (no AMQP consumer): its counters then read 0 */
} HttpDeps;

/* Start listening on cfg->http.listen. Caller owns *out; stop with http_stop. */
int http_start(const HttpDeps *deps, HttpServer **out, TsError *err);
/* Stop accepting, finish running requests, free. NULL is a no-op. */
void http_stop(HttpServer *h);
/* Port actually bound (for logs and tests). */
uint16_t http_bound_port(const HttpServer *h);

/* Append the Prometheus text exposition of every counter to 'out' (also used by tests). */
void http_write_metrics(const HttpDeps *deps, Buf *out);

#endif
