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

static bool blank(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return false;
    return true;
}

/* Points parsed but not yet handed to ingest. */
typedef struct Pending {
    Slice name; /* the series name as sent (borrowed from the receive buffer) */
    int64_t ts_ns;
    double value;
    const uint8_t *line; /* for log lines about rejected points */
    size_t line_len;
} Pending;

#define PROTO_CHUNK 32

int proto_graphite_key(void *ctx, Slice name, Buf *key)
{
    ProtoCtx *p = ctx;
    TsError err = {0};
    if (graphite_name_to_key(name, (size_t)p->cfg->net.max_tags,
                             (size_t)p->cfg->net.max_name_bytes, key, &err) == TS_OK)
        return TS_OK;
    proto_log_bad(p, "invalid series name", name.p, name.n, err.msg);
    return TS_ERR_PROTO;
}

/* Hand the pending points to ingest (room was reserved); count the outcome. */
static void flush_pending(ProtoCtx *p, Pending *pend, size_t np, uint64_t *accepted)
{
    IngestPoint pts[PROTO_CHUNK] = {0};
    int rcs[PROTO_CHUNK];
    for (size_t i = 0; i < np; i++) {
        pts[i].key = pend[i].name;
        pts[i].ts_ns = pend[i].ts_ns;
        pts[i].value = pend[i].value;
    }
    ingest_put_many_named(p->in, pts, np, proto_graphite_key, p, rcs);
    for (size_t i = 0; i < np; i++) {
        if (rcs[i] == TS_OK) {
            (*accepted)++;
            continue;
        }
        proto_count_rejection(p, rcs[i], slice_make(pend[i].line, pend[i].line_len));
    }
}

ProtoResult proto_graphite_lines(ProtoCtx *p, const uint8_t *buf, size_t n, bool final,
                                 size_t *consumed)
{
    NetListenerStats *st = &p->stats[p->listener];
    uint64_t received = 0, accepted = 0, nan = 0, bad = 0, long_lines = 0;
    size_t max_line = (size_t)p->cfg->graphite.max_line_bytes;
    int64_t now_ns = ts_now_ns();
    ProtoResult r = PROTO_OK;
    Pending pend[PROTO_CHUNK];
    size_t np = 0;
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
        /* Room for a whole chunk is reserved before its first line is parsed, so a pause never
         * leaves a line half counted. */
        if (np == 0 && !ingest_reserve(p->in, PROTO_CHUNK)) {
            r = PROTO_PAUSE;
            break;
        }
        GraphiteLine gl;
        TsError err = {0};
        pos = next;
        if (graphite_line_parse(slice_make(line, len), now_ns, &gl, &err) != TS_OK) {
            bad++;
            proto_log_bad(p, "invalid line received", line, len, err.msg);
            continue;
        }
        received++;
        if (gl.is_nan) {
            nan++;
            continue;
        }
        pend[np++] = (Pending){gl.name, gl.ts_ns, gl.value, line, len};
        if (np == PROTO_CHUNK) {
            flush_pending(p, pend, np, &accepted);
            np = 0;
        }
    }
    if (np)
        flush_pending(p, pend, np, &accepted);
    *consumed = pos;
    if (received)
        atomic_fetch_add_explicit(&st->points_received, received, memory_order_relaxed);
    if (accepted)
        atomic_fetch_add_explicit(&st->points_accepted, accepted, memory_order_relaxed);
    if (nan)
        atomic_fetch_add_explicit(&st->nan_dropped, nan, memory_order_relaxed);
    if (bad)
        atomic_fetch_add_explicit(&st->bad_lines, bad, memory_order_relaxed);
    if (long_lines && p->listener == NET_GRAPHITE_UDP)
        atomic_fetch_add_explicit(&st->long_lines, long_lines, memory_order_relaxed);
    return r;
}
