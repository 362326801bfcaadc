/*
 * OpenTSDB telnet listener (reference/akumuli.md §5 and §17): `put` lines, plus `version`,
 * `stats` (cairn's own listener counters in OpenTSDB's stats format), `help`, `dropcaches` and
 * `exit`. NaN values are dropped (counted) as on every listener. A bad put or an unknown command is
 * answered with OpenTSDB's error line and the connection keeps serving, as OpenTSDB does (the pure
 * parser in proto/opentsdb.c builds the lines).
 *
 * Names: an accepted put remembers "<metric>\0<tags as sent>" -> series id in the worker's
 * ingest name cache (the NUL keeps these apart from Graphite names, which cannot hold one).
 * A later put with the same metric and tag bytes is split by otsdb_split_put (timestamp and
 * value only) and queued by id: no tag parsing, no key building, no key hashing.
 */
#include "core/time.h"
#include "net/handlers.h"
#include "proto/opentsdb.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define OTSDB_DRAIN_EVERY 64 /* queued points before handing them to ingest */

/* Append the name cache's name of a put, "<metric>\0<tags>", to 'b'; returns its offset. */
static size_t put_alias(Buf *b, const OtsdbLine *line)
{
    size_t off = b->n;
    buf_append(b, line->metric.p, line->metric.n);
    buf_put_u8(b, 0);
    buf_append(b, line->tags.p, line->tags.n);
    return off;
}

/* `stats`: every listener's counters, one OpenTSDB stats line each. */
static void write_stats(ProtoCtx *p, Buf *out)
{
    int64_t now_s = ts_now_ns() / TS_NS_PER_SEC;
    for (int k = 0; k < NET_LISTENERS; k++) {
        const NetListenerStats *s = &p->stats[k];
        char tags[64];
        snprintf(tags, sizeof(tags), "listener=%s", s->name);
        struct {
            const char *name;
            uint64_t v;
        } rows[] = {
            {"cairn.connections.open", atomic_load(&s->connections_open)},
            {"cairn.points.received", atomic_load(&s->points_received)},
            {"cairn.points.accepted", atomic_load(&s->points_accepted)},
            {"cairn.points.rejected", atomic_load(&s->points_rejected)},
            {"cairn.lines.bad", atomic_load(&s->bad_lines)},
        };
        for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
            otsdb_write_stat(out, rows[i].name, now_s, (double)rows[i].v, tags);
    }
}

ProtoResult proto_opentsdb_lines(ProtoCtx *p, ProtoConn *c, const uint8_t *buf, size_t n,
                                 bool final, size_t *consumed)
{
    NetListenerStats *st = &p->stats[p->listener];
    uint64_t received = 0, bad = 0, nan = 0;
    size_t max_line = (size_t)p->cfg->net.max_name_bytes + 512;
    ProtoResult r = PROTO_OK;
    size_t pos = 0;
    while (pos < n) {
        const uint8_t *nl = memchr(buf + pos, '\n', n - pos);
        if (!nl && !final)
            break;
        size_t end = nl ? (size_t)(nl - buf) : n;
        size_t next = nl ? end + 1 : n;
        if (end - pos > max_line) {
            r = PROTO_LINE_TOO_LONG;
            pos = next;
            break;
        }
        OtsdbLine line;
        uint64_t id = 0;
        buf_clear(&p->key);
        size_t line_start = pos;
        const uint8_t *text = buf + pos;
        size_t text_n = end - pos;
        if (otsdb_split_put(slice_make(text, text_n), &line, &p->key) == TS_OK) {
            size_t off = put_alias(&p->key, &line);
            if (ingest_alias_find(p->in, slice_make(p->key.p + off, p->key.n - off), &id)) {
                pos = next;
                received++;
                if (isnan(line.value))
                    nan++;
                else
                    pending_push_id(&c->pending, id, line.ts_ns, line.value);
                if (c->pending.n - c->pending.head >= OTSDB_DRAIN_EVERY &&
                    !pending_drain(p, &c->pending)) {
                    r = PROTO_PAUSE;
                    break;
                }
                continue;
            }
            buf_clear(&p->key);
        }
        int rc = otsdb_parse_line(slice_make(text, text_n), (size_t)p->cfg->net.max_tags,
                                  (size_t)p->cfg->net.max_name_bytes, &line, &p->key, &c->reply);
        pos = next;
        if (rc != TS_OK) {
            bad++;
            proto_log_bad(p, "bad OpenTSDB line", text, text_n, "answered with an error line");
            continue;
        }
        switch (line.cmd) {
        case OTSDB_PUT: {
            received++;
            if (isnan(line.value)) {
                nan++; /* as the other listeners: NaN is dropped, not stored */
                break;
            }
            size_t key_n = p->key.n;
            size_t off = put_alias(&p->key, &line);
            Slice key = slice_make(p->key.p, key_n);
            rc = ingest_alias_resolve(p->in, slice_make(p->key.p + off, p->key.n - off), key, &id);
            if (rc == TS_OK)
                pending_push_id(&c->pending, id, line.ts_ns, line.value);
            else
                proto_count_rejection(p, rc, key); /* series cap, read-only store */
            break;
        }
        case OTSDB_DROPCACHES:
            buf_puts(&c->reply, OTSDB_REPLY_DROPCACHES);
            break;
        case OTSDB_VERSION:
            otsdb_write_version(&c->reply, p->version);
            break;
        case OTSDB_STATS:
            write_stats(p, &c->reply);
            break;
        case OTSDB_HELP:
            otsdb_write_help(&c->reply);
            break;
        case OTSDB_EXIT:
            /* Store what came before `exit` first; without a free batch, retry the line later. */
            if (pending_drain(p, &c->pending)) {
                r = PROTO_CLOSE;
            } else {
                pos = line_start;
                r = PROTO_PAUSE;
            }
            break;
        default:
            break; /* dropcaches, ignored verbs, empty lines */
        }
        if (r != PROTO_OK)
            break;
        if (c->pending.n - c->pending.head >= OTSDB_DRAIN_EVERY && !pending_drain(p, &c->pending)) {
            r = PROTO_PAUSE;
            break;
        }
    }
    if (r != PROTO_PAUSE && !pending_drain(p, &c->pending) && r == PROTO_OK)
        r = PROTO_PAUSE;
    *consumed = pos;
    if (received)
        atomic_fetch_add_explicit(&st->points_received, received, memory_order_relaxed);
    if (bad)
        atomic_fetch_add_explicit(&st->bad_lines, bad, memory_order_relaxed);
    if (nan)
        atomic_fetch_add_explicit(&st->nan_dropped, nan, memory_order_relaxed);
    return r;
}
