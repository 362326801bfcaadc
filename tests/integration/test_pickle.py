"""Black-box test of the Graphite pickle listener: frames made by python3's own pickle module
(protocols 0 to 5, lists and tuples, numbers as strings), a hand-written protocol-0 frame as
Java senders write it, then hostile frames (GLOBAL/REDUCE payloads, deep nesting, huge declared
lengths, memo abuse, an oversized frame, random bytes): each rejected frame closes its
connection, nothing from it is stored, and the server keeps serving others."""
import os
import pickle
import random
import socket
import struct

from harness import Checks, Server, csv_query

T0 = 1700000000
NS = 1000000000
FROM, TO = (T0 - 100) * NS, (T0 + 10000) * NS

c = Checks()
srv = Server().start()


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


def send(frames):
    return srv.converse(srv.pickle, b"".join(frames))


class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/cairn-pickle-pwned",))


try:
    # One frame per protocol, each with its own series.
    for proto in range(0, 6):
        data = [("pk.p%d" % proto, (T0 + 10 * i, 1.5 * i)) for i in range(3)]
        data.append(("pk.p%d" % proto, [T0 + 30, 7]))              # list instead of tuple, int
        send([frame(pickle.dumps(data, protocol=proto))])
    for proto in range(0, 6):
        c.eventually_eq(lambda: csv_query(srv, "pk.p%d" % proto, FROM, TO),
                        (200, "".join("pk.p%d,ts=%d,%s\n" % (proto, (T0 + 10 * i) * NS, v)
                                      for i, v in [(0, "0"), (1, "1.5"), (2, "3"), (3, "7")])),
                        "protocol %d frame stored exactly" % proto)

    # Several frames on one connection, tuples at the top level, numbers as strings, unicode
    # and bytes names, a tagged name, NaN dropped, a bad entry skipped.
    rows = (("pk.str", ("%d" % T0, "2.25")),
            ("pk.unicode.é", (T0, 3)),
            (b"pk.bytes", (float(T0) + 0.9, 4)),
            ("cpu;host=a;dc=x", (T0, 5)),
            ("pk.nan", (T0, float("nan"))),
            ("pk.bad", ("not a number", 1)),
            ("pk.bad2",))
    # (protocol 4: Python pickles bytes at protocols < 3 through a GLOBAL, which is refused)
    send([frame(pickle.dumps(rows, protocol=4)), frame(pickle.dumps([("pk.second", (T0, 6))]))])
    c.eventually_eq(lambda: csv_query(srv, "pk.second", FROM, TO),
                    (200, "pk.second,ts=%d,6\n" % (T0 * NS)), "second frame on a connection")
    c.eq(csv_query(srv, "pk.str", FROM, TO), (200, "pk.str,ts=%d,2.25\n" % (T0 * NS)),
         "numbers given as strings")
    c.eq(csv_query(srv, "pk.unicode.é", FROM, TO), (200, "pk.unicode.é,ts=%d,3\n" % (T0 * NS)),
         "unicode name")
    c.eq(csv_query(srv, "pk.bytes", FROM, TO), (200, "pk.bytes,ts=%d,4\n" % (T0 * NS)),
         "bytes name, float timestamp truncated")
    c.eq(csv_query(srv, "cpu", FROM, TO), (200, "cpu dc=x host=a,ts=%d,5\n" % (T0 * NS)),
         "tagged name canonical")
    c.eq(csv_query(srv, "pk.nan", FROM, TO)[1], "-not found\r\n", "NaN dropped")
    c.eq(csv_query(srv, "pk.bad", FROM, TO)[1], "-not found\r\n", "bad entry skipped")

    # Protocol 0 written by hand, as JMeter and Dropwizard-style Java senders do.
    jmeter = b"(l(S'pk.java'\n(L%dL\nS'1.5'\ntta." % T0
    send([frame(jmeter)])
    c.eventually_eq(lambda: csv_query(srv, "pk.java", FROM, TO),
                    (200, "pk.java,ts=%d,1.5\n" % (T0 * NS)), "hand-written protocol 0 frame")

    m = srv.metrics()
    c.eq(m.get('cairn_nan_dropped_total{listener="pickle_tcp"}'), 1.0, "NaN counted")
    c.ok(m.get('cairn_points_rejected_total{listener="pickle_tcp"}', 0) >= 2,
         "skipped entries counted")

    # Hostile frames: each closes its connection and stores nothing, even the good entry after
    # the evil object in the same frame.
    hostile = [
        ("reduce", pickle.dumps([("pk.evil", (T0, 1)), Evil()], protocol=2)),
        ("reduce p0", pickle.dumps([("pk.evil", (T0, 1)), Evil()], protocol=0)),
        ("global", b"\x80\x02cos\nsystem\nq\x00."),
        ("stack_global", b"\x80\x04\x8c\x02os\x8c\x06system\x93."),
        ("build", b"\x80\x02]q\x00}b."),
        ("inst", b"(ios\nsystem\nS'true'\n."),
        ("deep", b"\x80\x02" + b"(" * 100000 + b"t" * 100000 + b"."),
        ("huge length", b"\x80\x02X\xff\xff\xff\xff" + b"a" * 16),
        ("truncated", pickle.dumps([("pk.evil", (T0, 1))], protocol=2)[:-3]),
        ("garbage", bytes(random.Random(3).getrandbits(8) for _ in range(5000))),
    ]
    for name, payload in hostile:
        reply = srv.converse(srv.pickle, frame(payload) + frame(pickle.dumps([("pk.evil", (T0, 1))])))
        c.eq(reply, b"", "%s: nothing is sent back" % name)
    c.ok(not os.path.exists("/tmp/cairn-pickle-pwned"), "no code executed")
    c.eq(csv_query(srv, "pk.evil", FROM, TO)[1], "-not found\r\n",
         "nothing stored from rejected frames or after them on their connection")
    c.ok(srv.metrics().get('cairn_bad_frames_total{listener="pickle_tcp"}', 0) >= len(hostile),
         "rejected frames counted")

    # Memo abuse: one list fetched 100 000 times and appended to itself. It is valid pickle; the
    # decoder stays bounded (depth and item limits) and the connection goes on.
    memo = b"\x80\x02]q\x00(" + b"h\x00" * 100000 + b"e."
    many = b"\x80\x02]q\x00" + b"h\x00" * 100000 + b"."
    for name, payload in (("self-append", memo), ("100000 gets", many)):
        srv.converse(srv.pickle, frame(payload) + frame(pickle.dumps([("pk.memo", (T0, 2))])))
    c.eventually_eq(lambda: csv_query(srv, "pk.memo", FROM, TO),
                    (200, "pk.memo,ts=%d,2\n" % (T0 * NS)), "memo abuse bounded, server fine")

    # A declared length over graphite.pickle_max_bytes closes the connection at once.
    with socket.create_connection(("127.0.0.1", srv.pickle), timeout=10) as s:
        s.sendall(struct.pack(">I", 2 << 20) + b"x" * 1000)
        s.settimeout(10)
        try:
            closed = s.recv(10) == b""
        except ConnectionResetError:
            closed = True
        c.ok(closed, "oversized frame closes the connection")

    # Other clients were never affected.
    send([frame(pickle.dumps([("pk.after", (T0, 8))], protocol=2))])
    c.eventually_eq(lambda: csv_query(srv, "pk.after", FROM, TO),
                    (200, "pk.after,ts=%d,8\n" % (T0 * NS)), "server still serves pickle")
    c.eq(srv.get("/health")[0], 200, "healthy")
    c.eq(srv.stop(), 0, "clean stop")
finally:
    if c.failed:
        print(srv.log_text())
    srv.cleanup()
c.finish()
