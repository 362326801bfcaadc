/*
 * Graphite plaintext handler: lines -> proto/graphite_line -> canonical key -> ingest.
 *
 * carbon's behaviour (reference/graphite.md §2): invalid lines are logged, skipped and the
 * connection is kept; NaN values are dropped silently; nothing is ever written back. Lines that
 * are empty or only whitespace are skipped without counting (as go-carbon does; carbon logs
 * them). A last line without '\n' is accepted at EOF and in UDP datagrams.
 */
#include "net/protocols.h"
#include "core/time.h"
#include "proto/graphite_line.h"

#include <string.h>

void proto_ctx_init(ProtoCtx *p, const Config *cfg, SeriesIndex *ix, Ingest *in,
                    NetListenerStats *stats, LogLimit *limit)
{
    memset(p, 0, sizeof(*p));
    p->cfg = cfg;
    p->ix = ix;
    p->in = in;
    p->stats = stats;
    p->log_limit = limit;
    buf_init(&p->key);
}

void proto_ctx_deinit(ProtoCtx *p)
{
    buf_deinit(&p->key);
}

static bool blank(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return false;
    return true;
}

static void log_bad(ProtoCtx *p, const char *what, const uint8_t *line, size_t n,
                    const char *why)
{
    uint64_t sup;
    if (!log_limit_allow(p->log_limit, 10, &sup))
        return;
    int show = n > 400 ? 400 : (int)n;
    while (show > 0 && (line[show - 1] == '\r' || line[show - 1] == '\n'))
        show--;
    log_warn("%s: %s from client %s, ignoring [%.*s]: %s (%llu similar messages suppressed)",
             p->stats[p->listener].name, what, p->peer ? p->peer : "?", show,
             (const char *)line, why, (unsigned long long)sup);
}

ProtoResult proto_graphite_lines(ProtoCtx *p, const uint8_t *buf, size_t n, bool final,
                                 size_t *consumed)
{
    NetListenerStats *st = &p->stats[p->listener];
    uint64_t received = 0, accepted = 0, rejected = 0, nan = 0, bad = 0, long_lines = 0;
    size_t max_line = (size_t)p->cfg->graphite.max_line_bytes;
    int64_t now_ns = ts_now_ns();
    ProtoResult r = PROTO_OK;
    size_t pos = 0;
    while (pos < n) {
        const uint8_t *nl = memchr(buf + pos, '\n', n - pos);
        size_t end = nl ? (size_t)(nl - buf) : n;
        if (!nl && !final)
            break;
        size_t len = end - pos;
        size_t next = nl ? end + 1 : n;
        const uint8_t *line = buf + pos;
        if (len > max_line) {
            long_lines++;
            if (!final || p->listener != NET_GRAPHITE_UDP) {
                r = PROTO_LINE_TOO_LONG;
                pos = next;
                break;
            }
            pos = next;
            continue;
        }
        if (blank(line, len)) {
            pos = next;
            continue;
        }
        if (!ingest_ready(p->in)) {
            r = PROTO_PAUSE;
            break;
        }
        GraphiteLine gl;
        TsError err = {0};
        if (graphite_line_parse(slice_make(line, len), now_ns, &gl, &err) != TS_OK) {
            bad++;
            log_bad(p, "invalid line received", line, len, err.msg);
            pos = next;
            continue;
        }
        received++;
        if (gl.is_nan) {
            nan++;
            pos = next;
            continue;
        }
        buf_clear(&p->key);
        if (graphite_name_to_key(gl.name, (size_t)p->cfg->net.max_tags,
                                 (size_t)p->cfg->net.max_name_bytes, &p->key, &err) != TS_OK) {
            rejected++;
            log_bad(p, "invalid series name", line, len, err.msg);
            pos = next;
            continue;
        }
        int rc = ingest_put(p->in, slice_make(p->key.p, p->key.n), gl.ts_ns, gl.value);
        if (rc == TS_OK) {
            accepted++;
        } else if (rc == TS_ERR_AGAIN) {
            received--;
            r = PROTO_PAUSE;
            break;
        } else {
            rejected++;
            if (rc == TS_ERR_LIMIT)
                log_bad(p, "new series refused", line, len, "storage.max_series reached");
        }
        pos = next;
    }
    *consumed = pos;
    if (received)
        atomic_fetch_add_explicit(&st->points_received, received, memory_order_relaxed);
    if (accepted)
        atomic_fetch_add_explicit(&st->points_accepted, accepted, memory_order_relaxed);
    if (rejected)
        atomic_fetch_add_explicit(&st->points_rejected, rejected, memory_order_relaxed);
    if (nan)
        atomic_fetch_add_explicit(&st->nan_dropped, nan, memory_order_relaxed);
    if (bad)
        atomic_fetch_add_explicit(&st->bad_lines, bad, memory_order_relaxed);
    if (long_lines && p->listener == NET_GRAPHITE_UDP)
        atomic_fetch_add_explicit(&st->long_lines, long_lines, memory_order_relaxed);
    return r;
}
