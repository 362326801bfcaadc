/*
 * HTTP glue: libmicrohttpd setup, request body collection with a cap, routing, and the
 * /metrics and /health handlers (see http.h for the routes).
 */
#include "http/http.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "core/time.h"
#include "query/akumuli.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <string.h>
#include <stddef.h>
#include <unistd.h>

#if MHD_VERSION < 0x00097002
typedef int MhdResult;
#else
typedef enum MHD_Result MhdResult;
#endif

struct HttpServer {
    HttpDeps deps;
    struct MHD_Daemon *mhd;
    uint16_t port;
    int listen_fd;
};

/* Per-request state: the body collected so far. */
typedef struct Request {
    Buf body;
    bool too_large;
} Request;

static MhdResult respond(struct MHD_Connection *conn, unsigned status, const char *ctype, Buf *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(body->n, body->p, MHD_RESPMEM_MUST_COPY);
    if (ctype)
        MHD_add_response_header(r, "Content-Type", ctype);
    MhdResult ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static MhdResult respond_text(struct MHD_Connection *conn, unsigned status, const char *ctype,
                              const char *text)
{
    Buf b;
    buf_init(&b);
    buf_puts(&b, text);
    MhdResult r = respond(conn, status, ctype, &b);
    buf_deinit(&b);
    return r;
}

static void metric(Buf *out, const char *name, const char *help, const char *type)
{
    buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The AMQP consumer's counters (all 0 when there is none). */
static void write_amqp_metrics(const AmqpStats *a, Buf *out)
{
    static const struct {
        const char *name, *help;
        size_t off;
        bool gauge;
    } rows[] = {
#define ROW(name, field, help, gauge) {name, help, offsetof(AmqpStats, field), gauge}
        ROW("cairn_amqp_messages_total", messages, "AMQP messages received.", false),
        ROW("cairn_amqp_points_total", points, "Points from AMQP messages handed to storage.",
            false),
        ROW("cairn_amqp_bad_messages_total", bad_messages,
            "AMQP messages with a bad line or name, or over amqp.max_message_bytes (acknowledged).",
            false),
        ROW("cairn_amqp_bad_lines_total", bad_lines, "AMQP message lines that failed to parse.",
            false),
        ROW("cairn_amqp_nan_dropped_total", nan_dropped, "AMQP points with a NaN value dropped.",
            false),
        ROW("cairn_amqp_points_rejected_total", points_rejected,
            "AMQP points refused (bad name, series limit, read-only store).", false),
        ROW("cairn_amqp_acked_total", acked, "AMQP messages acknowledged once durable.", false),
        ROW("cairn_amqp_reconnects_total", reconnects,
            "AMQP connections established after the first one.", false),
        ROW("cairn_amqp_connect_failures_total", connect_failures,
            "AMQP connection attempts that failed.", false),
        ROW("cairn_amqp_unacked", unacked, "AMQP messages received and not yet acknowledged.",
            true),
        ROW("cairn_amqp_connected", connected, "1 while the AMQP consumer is consuming.", true),
#undef ROW
    };
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        uint64_t v = 0;
        if (a)
            v = atomic_load((const _Atomic uint64_t *)((const char *)a + rows[r].off));
        metric(out, rows[r].name, rows[r].help, rows[r].gauge ? "gauge" : "counter");
        buf_printf(out, "%s %llu\n", rows[r].name, (unsigned long long)v);
    }
}

void http_write_metrics(const HttpDeps *d, Buf *out)
{
    EngineStats es;
    engine_stats(d->engine, &es);
    if (d->net) {
        const NetListenerStats *ls = net_stats(d->net);
        static const struct {
            const char *name, *help;
            size_t off;
            bool gauge;
        } rows[] = {
#define ROW(name, field, help, gauge) {name, help, offsetof(NetListenerStats, field), gauge}
            ROW("cairn_connections_total", connections_total, "Connections accepted.", false),
            ROW("cairn_connections_open", connections_open, "Connections open now.", true),
            ROW("cairn_connections_refused_total", connections_refused,
                "Connections refused by net.max_connections.", false),
            ROW("cairn_received_bytes_total", bytes, "Bytes received.", false),
            ROW("cairn_datagrams_total", datagrams, "UDP datagrams received.", false),
            ROW("cairn_points_received_total", points_received,
                "Well-formed points received (NaN included).", false),
            ROW("cairn_points_accepted_total", points_accepted, "Points handed to storage.", false),
            ROW("cairn_points_rejected_total", points_rejected,
                "Points refused (series limit, bad name, read-only store).", false),
            ROW("cairn_nan_dropped_total", nan_dropped, "Points with a NaN value dropped.", false),
            ROW("cairn_points_rejected_bad_name_total", rejected_bad_name,
                "Points refused for an invalid series name.", false),
            ROW("cairn_points_rejected_series_limit_total", rejected_series_limit,
                "Points refused because storage.max_series was reached.", false),
            ROW("cairn_points_rejected_read_only_total", rejected_read_only,
                "Points refused because the store is read-only.", false),
            ROW("cairn_bad_lines_total", bad_lines, "Lines (pickle: entries) that failed to parse.",
                false),
            ROW("cairn_bad_frames_total", bad_frames,
                "Pickle frames or RESP messages rejected whole (undecodable, forbidden opcode, "
                "over the size cap, protocol error).",
                false),
            ROW("cairn_long_lines_total", long_lines, "Lines over the length cap.", false),
            ROW("cairn_idle_closed_total", idle_closed, "Connections closed by net.idle_timeout.",
                false),
#undef ROW
        };
        for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
            metric(out, rows[r].name, rows[r].help, rows[r].gauge ? "gauge" : "counter");
            for (int k = 0; k < NET_LISTENERS; k++) {
                const _Atomic uint64_t *v =
                    (const _Atomic uint64_t *)((const char *)&ls[k] + rows[r].off);
                buf_printf(out, "%s{listener=\"%s\"} %llu\n", rows[r].name, ls[k].name,
                           (unsigned long long)atomic_load(v));
            }
        }
    }
    struct {
        const char *name, *help, *type;
        uint64_t v;
    } g[] = {
        {"cairn_series", "Series known to the index.", "gauge", series_index_count(d->ix)},
        {"cairn_series_rejected_total", "New series refused by storage.max_series.", "counter",
         series_index_rejected(d->ix)},
        {"cairn_points_stored_total", "Points written to the WAL and memtable.", "counter",
         es.points_written},
        {"cairn_points_dropped_read_only_total", "Points dropped because the store is read-only.",
         "counter", es.dropped_points},
        {"cairn_wal_bytes_total", "Bytes appended to the write-ahead log.", "counter",
         es.wal_bytes},
        {"cairn_wal_fsyncs_total", "fdatasync calls on the write-ahead log.", "counter",
         es.wal_fsyncs},
        {"cairn_segments", "Segment files on disk.", "gauge", es.segments},
        {"cairn_segment_bytes", "Bytes of segment files on disk.", "gauge", es.segment_bytes},
        {"cairn_blocks", "Compressed blocks in segment files.", "gauge", es.blocks},
        {"cairn_memtable_bytes", "Approximate bytes held in memtables.", "gauge",
         es.memtable_bytes},
        {"cairn_flushes_total", "Memtable flushes to segments.", "counter", es.flushes},
        {"cairn_compactions_total", "Segment compactions.", "counter", es.compactions},
        {"cairn_retention_dropped_segments_total", "Segments dropped by retention.", "counter",
         es.retention_drops},
        {"cairn_recovered_points", "Points replayed from the WAL at start-up.", "gauge",
         es.recovered_points},
        {"cairn_wal_dropped_bytes", "Torn or corrupt WAL bytes cut at start-up.", "gauge",
         es.wal_dropped_bytes},
        {"cairn_read_only", "1 if the store refuses writes after an I/O error.", "gauge",
         es.read_only ? 1u : 0u},
    };
    for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++) {
        metric(out, g[i].name, g[i].help, g[i].type);
        buf_printf(out, "%s %llu\n", g[i].name, (unsigned long long)g[i].v);
    }
    write_amqp_metrics(d->amqp, out);
    metric(out, "cairn_uptime_seconds", "Seconds since start.", "gauge");
    buf_printf(out, "cairn_uptime_seconds %lld\n",
               (long long)((ts_now_ns() - d->started_ns) / TS_NS_PER_SEC));
}

static MhdResult handle_health(HttpServer *h, struct MHD_Connection *conn)
{
    EngineStats es;
    engine_stats(h->deps.engine, &es);
    Buf b;
    buf_init(&b);
    buf_printf(&b,
               "{\"status\":\"%s\",\"series\":%llu,\"points_stored\":%llu,\"segments\":%llu,"
               "\"uptime_seconds\":%lld}\n",
               es.read_only ? "read-only" : "ok",
               (unsigned long long)series_index_count(h->deps.ix),
               (unsigned long long)es.points_written, (unsigned long long)es.segments,
               (long long)((ts_now_ns() - h->deps.started_ns) / TS_NS_PER_SEC));
    MhdResult r = respond(conn, es.read_only ? 503 : 200, "application/json", &b);
    buf_deinit(&b);
    return r;
}

static MhdResult handle_query(HttpServer *h, struct MHD_Connection *conn, Request *req)
{
    EngineQuery q;
    QuerySource src;
    engine_query_source(h->deps.engine, &q, &src);
    Buf out;
    buf_init(&out);
    int status = 200;
    akumuli_query_run(&src, slice_make(req->body.p, req->body.n), &out, &status);
    /* Akumuli answers queries without a Content-Type. */
    MhdResult r = respond(conn, (unsigned)status, NULL, &out);
    buf_deinit(&out);
    return r;
}

/* Path without one trailing '/', into out. */
static void normalise_path(const char *url, char *out, size_t n)
{
    snprintf(out, n, "%s", url);
    size_t len = strlen(out);
    if (len > 1 && out[len - 1] == '/')
        out[len - 1] = '\0';
}

static MhdResult on_request(void *cls, struct MHD_Connection *conn, const char *url,
                            const char *method, const char *version, const char *upload_data,
                            size_t *upload_size, void **con_cls)
{
    HttpServer *h = cls;
    bool is_post = strcmp(method, "POST") == 0;
    bool is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (*con_cls == NULL) {
        Request *req = ts_calloc(1, sizeof(Request));
        buf_init(&req->body);
        *con_cls = req;
        return MHD_YES;
    }
    Request *req = *con_cls;
    if (*upload_size) {
        if (req->body.n + *upload_size > h->deps.cfg->http.max_body_bytes)
            req->too_large = true;
        else
            buf_append(&req->body, upload_data, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (req->too_large) {
        char msg[128];
        snprintf(msg, sizeof(msg), "-request body exceeds http.max_body_bytes (%llu)\r\n",
                 (unsigned long long)h->deps.cfg->http.max_body_bytes);
        return respond_text(conn, 413, NULL, msg);
    }
    char path[512];
    normalise_path(url, path, sizeof(path));
    if (!is_post && !is_get)
        return respond_text(conn, 404, NULL, "-Invalid request\r\n");
    if (is_post && strcmp(path, "/api/query") == 0)
        return handle_query(h, conn, req);
    if (is_get && strcmp(path, "/metrics") == 0) {
        Buf b;
        buf_init(&b);
        http_write_metrics(&h->deps, &b);
        MhdResult r = respond(conn, 200, "text/plain; version=0.0.4", &b);
        buf_deinit(&b);
        return r;
    }
    if (is_get && strcmp(path, "/health") == 0)
        return handle_health(h, conn);
    char msg[600];
    snprintf(msg, sizeof(msg), "-Invalid url %.500s\r\n", url);
    return respond_text(conn, 404, NULL, msg);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    Request *req = *con_cls;
    if (!req)
        return;
    buf_deinit(&req->body);
    ts_free(req);
    *con_cls = NULL;
}

int http_start(const HttpDeps *deps, HttpServer **out, TsError *err)
{
    HttpServer *h = ts_calloc(1, sizeof(*h));
    h->deps = *deps;
    const ConfListen *l = &deps->cfg->http.listen;
    int fd = net_listen_socket(l, false, false, &h->port, err);
    if (fd < 0) {
        ts_free(h);
        return TS_ERR_IO;
    }
    unsigned threads = deps->cfg->http.threads ? (unsigned)deps->cfg->http.threads : 1;
    h->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL,
                              on_request, h, MHD_OPTION_LISTEN_SOCKET, fd,
                              MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_NOTIFY_COMPLETED,
                              on_completed, h, MHD_OPTION_CONNECTION_TIMEOUT, 60u,
                              MHD_OPTION_CONNECTION_LIMIT, 1024u, MHD_OPTION_END);
    if (!h->mhd) {
        close(fd);
        ts_free(h);
        return ts_error(err, TS_ERR_IO, 0, "http: cannot start libmicrohttpd on %s:%u", l->host,
                        l->port);
    }
    log_info("listening: http on %s:%u", l->host, h->port);
    *out = h;
    return TS_OK;
}

void http_stop(HttpServer *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->mhd);
    ts_free(h);
}

uint16_t http_bound_port(const HttpServer *h)
{
    return h->port;
}
