/*
 * The handlers behind proto_handle, one per protocol family (private to net/).
 * Each has proto_handle's contract; see protocols.h.
 */
#ifndef CAIRN_NET_HANDLERS_H
#define CAIRN_NET_HANDLERS_H

#include "net/protocols.h"

/* Largest RESP message kept whole in a receive buffer (a $bulk string is at most 1 MiB). */
#define PROTO_RESP_MAX_MESSAGE (((size_t)1 << 20) + 4096)

/* Graphite pickle: 4-byte big-endian length + pickle (pickle_in.c). */
ProtoResult proto_pickle_frames(ProtoCtx *p, ProtoConn *c, const uint8_t *buf, size_t n,
                                size_t *consumed);

/* Akumuli RESP, TCP and UDP (resp_in.c). */
ProtoResult proto_resp_messages(ProtoCtx *p, ProtoConn *c, const uint8_t *buf, size_t n, bool final,
                                size_t *consumed);
void proto_resp_free(ProtoConn *c);

/* OpenTSDB telnet lines (opentsdb_in.c). */
ProtoResult proto_opentsdb_lines(ProtoCtx *p, ProtoConn *c, const uint8_t *buf, size_t n,
                                 bool final, size_t *consumed);

#endif
