"""Black-box test of the caps: storage.max_series (new series refused and counted, existing
ones keep working), net.max_connections, net.idle_timeout, net.max_tags / invalid tagged
names, and a megabyte of random bytes to every TCP and UDP port; the server stays up."""
import os
import random
import socket
import time

from harness import Checks, Server, csv_query

T0 = 1700000000
NS = 1000000000
FROM, TO = (T0 - 10) * NS, (T0 + 100) * NS

c = Checks()
srv = Server(extra=["storage.max_series=3", "net.max_connections=3", "net.idle_timeout=1s",
                    "net.max_tags=2"]).start()


def closed_by_server(s, timeout=10):
    s.settimeout(timeout)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


try:
    srv.send_tcp("lim.a 1 %d\nlim.b 2 %d\nlim.c 3 %d\n" % (T0, T0, T0))
    c.eventually_eq(lambda: csv_query(srv, "lim.c", FROM, TO),
                    (200, "lim.c,ts=%d,3\n" % (T0 * NS)), "three series accepted")
    srv.send_tcp("lim.d 4 %d\nlim.a 5 %d\n" % (T0, T0 + 10))
    c.eventually_eq(lambda: csv_query(srv, "lim.a", FROM, TO),
                    (200, "lim.a,ts=%d,1\nlim.a,ts=%d,5\n" % (T0 * NS, (T0 + 10) * NS)),
                    "existing series keeps working past max_series")
    c.eq(csv_query(srv, "lim.d", FROM, TO), (200, "-not found\r\n"), "fourth series refused")
    m = srv.metrics()
    c.eq(m.get("cairn_series_rejected_total"), 1.0, "refused series counted")
    c.eq(m.get('cairn_points_rejected_total{listener="graphite_tcp"}'), 1.0,
         "refused point counted")
    c.eq(m.get('cairn_points_rejected_series_limit_total{listener="graphite_tcp"}'), 1.0,
         "refused point counted under its reason")

    # Tagged names: over net.max_tags and invalid ones are rejected and counted.
    srv.send_tcp("t;a=1;b=2;c=3 1 %d\nt;=x 1 %d\nt;a=~x 1 %d\n" % (T0, T0, T0))
    c.ok(srv.wait_for(lambda: srv.metrics().get(
        'cairn_points_rejected_total{listener="graphite_tcp"}') == 4.0),
        "invalid tagged names rejected and counted")
    c.eq(srv.metrics().get('cairn_points_rejected_bad_name_total{listener="graphite_tcp"}'), 3.0,
         "bad names counted under their reason")

    # net.max_connections: with 3 open, a 4th is closed at once.
    conns = [socket.create_connection(("127.0.0.1", srv.tcp), timeout=5) for _ in range(3)]
    time.sleep(0.3)
    extra = socket.create_connection(("127.0.0.1", srv.tcp), timeout=5)
    c.ok(closed_by_server(extra, 5), "connection over net.max_connections is closed")
    extra.close()
    c.ok(srv.metrics().get('cairn_connections_refused_total{listener="graphite_tcp"}', 0) >= 1,
         "refused connection counted")
    # net.idle_timeout: silent connections are closed after about 1 s.
    c.ok(all(closed_by_server(s, 10) for s in conns), "idle connections closed by the server")
    for s in conns:
        s.close()
    c.ok(srv.metrics().get('cairn_idle_closed_total{listener="graphite_tcp"}', 0) >= 3,
         "idle closes counted")

    # A megabyte of random bytes: the server survives and keeps serving.
    rnd = random.Random(7)
    junk = bytes(rnd.getrandbits(8) for _ in range(1 << 20))
    for port in (srv.tcp, srv.pickle, srv.resp, srv.opentsdb):
        try:
            srv.send_tcp(junk, port=port)
        except OSError:
            pass
    for port in (srv.tcp, srv.resp):
        for i in range(0, len(junk), 60000):
            srv.send_udp(junk[i:i + 60000], port=port)
    srv.send_tcp("lim.b 7 %d\n" % (T0 + 20))
    c.eventually_eq(lambda: csv_query(srv, "lim.b", FROM, TO),
                    (200, "lim.b,ts=%d,2\nlim.b,ts=%d,7\n" % (T0 * NS, (T0 + 20) * NS)),
                    "still serving after random bytes")
    status, body = srv.get("/health")
    c.eq(status, 200, "health after hostile input")
    c.eq(srv.stop(), 0, "clean stop")
finally:
    if c.failed:
        print(srv.log_text())
    srv.cleanup()
c.finish()
