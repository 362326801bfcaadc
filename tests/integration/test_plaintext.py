"""Black-box test: Graphite plaintext over TCP and UDP into the real cairnd, read back exactly
through Akumuli's POST /api/query, across a clean restart and a kill -9; counters in /metrics;
cairn check and cairn dump on the data directory."""
import socket
import time

from harness import Checks, Server, csv_query, run_cairn

T0 = 1700000000  # 20231114T221320
NS = 1000000000
FROM, TO = (T0 - 100) * NS, (T0 + 1000) * NS

c = Checks()
srv = Server(extra=["storage.sync_interval=100ms"]).start()
try:
    srv.send_tcp(
        "test.a 1.5 %d\n" % T0 +
        "test.a\t2.25\t%d\r\n" % (T0 + 10) +          # tabs and CRLF (collectd)
        "test.a 3 %d.9\n" % (T0 + 20) +               # float timestamp truncated
        "test.a nan %d\n" % (T0 + 30) +               # NaN dropped silently
        "  test.a   4e1   %d  \n" % (T0 + 40) +       # extra whitespace
        "garbage line\n"                              # 2 tokens: invalid
        "test.a 5 %d extra\n" % (T0 + 50) +           # 4 tokens: invalid
        "test.a x %d\n" % (T0 + 60) +                 # bad value: invalid
        "\n"                                          # empty line: skipped
        "test.a 6 %d\n" % (T0 + 50) +
        "test.a 6.5 %d\n" % (T0 + 50) +               # same timestamp: last write wins
        "test.a inf %d\n" % (T0 + 70) +               # +Inf is stored
        "test.a 0.1 %d\n" % (T0 - 10) +               # out of order, accepted
        "test.b -0.5 %d\n" % T0 +
        "cpu;host=a;dc=x 7 %d\n" % T0 +               # tagged: canonical cpu dc=x host=a
        "cpu;dc=x;host=b 8 %d\n" % T0 +
        "test.c 9 %d" % T0)                           # last line without '\n' at EOF
    srv.send_udp("test.udp 1 %d\ntest.udp 2 %d" % (T0, T0 + 10))
    srv.send_udp("test.now 1 -1\n")

    want_a = ("test.a,ts=%d,0.10000000000000001\n" % ((T0 - 10) * NS) +
              "test.a,ts=%d,1.5\n" % (T0 * NS) +
              "test.a,ts=%d,2.25\n" % ((T0 + 10) * NS) +
              "test.a,ts=%d,3\n" % ((T0 + 20) * NS) +
              "test.a,ts=%d,40\n" % ((T0 + 40) * NS) +
              "test.a,ts=%d,6.5\n" % ((T0 + 50) * NS) +
              "test.a,ts=%d,inf\n" % ((T0 + 70) * NS))

    def check_all(label):
        c.eventually_eq(lambda: csv_query(srv, "test.a", FROM, TO), (200, want_a),
                        label + ": test.a exact")
        c.eq(csv_query(srv, "test.b", FROM, TO),
             (200, "test.b,ts=%d,-0.5\n" % (T0 * NS)), label + ": test.b")
        c.eq(csv_query(srv, "test.c", FROM, TO),
             (200, "test.c,ts=%d,9\n" % (T0 * NS)), label + ": last line without newline")
        c.eq(csv_query(srv, "test.udp", FROM, TO),
             (200, "test.udp,ts=%d,1\ntest.udp,ts=%d,2\n" % (T0 * NS, (T0 + 10) * NS)),
             label + ": UDP datagram, both lines")
        c.eq(csv_query(srv, "cpu", FROM, TO, ',"where":{"host":"a"}'),
             (200, "cpu dc=x host=a,ts=%d,7\n" % (T0 * NS)), label + ": tagged name canonical")
        c.eq(csv_query(srv, "cpu", FROM, TO, ',"order-by":"series"'),
             (200, "cpu dc=x host=a,ts=%d,7\ncpu dc=x host=b,ts=%d,8\n" % (T0 * NS, T0 * NS)),
             label + ": both tagged series")
        status, body = srv.query('{"select":"test.b","range":{"from":"20231114T221300",'
                                 '"to":"20231114T221400"}}')
        c.eq((status, body), (200, b"+test.b\r\n+20231114T221320.000000000\r\n+-0.5\r\n"),
             label + ": RESP output with ISO timestamps")
        now = time.time()
        srv.wait_for(lambda: csv_query(srv, "test.now", int(now - 60) * NS,
                                       int(now + 60) * NS)[1].endswith("\n"))
        st, body = csv_query(srv, "test.now", int(now - 60) * NS, int(now + 60) * NS)
        c.ok(st == 200 and body.startswith("test.now,ts=") and body.endswith(",1\n"),
             label + ": -1 timestamp means now: %r" % body)
        c.eq(srv.query('{"select":"nope","range":{"from":0,"to":1}}'), (200, b"-not found\r\n"),
             label + ": not found")

    srv.wait_for(lambda: csv_query(srv, "test.udp", FROM, TO)[1].count("\n") == 2)
    srv.wait_for(lambda: csv_query(srv, "test.c", FROM, TO)[1].endswith("\n"))
    check_all("live")

    m = srv.metrics()
    c.eq(m.get('cairn_bad_lines_total{listener="graphite_tcp"}'), 3.0, "bad lines counted")
    c.eq(m.get('cairn_nan_dropped_total{listener="graphite_tcp"}'), 1.0, "NaN counted")
    c.eq(m.get('cairn_points_accepted_total{listener="graphite_udp"}'), 3.0, "UDP accepted")
    c.eq(m.get('cairn_datagrams_total{listener="graphite_udp"}'), 2.0, "UDP datagrams")
    c.ok(m.get("cairn_series", 0) == 7.0, "series gauge is 7: %r" % m.get("cairn_series"))
    c.ok(m.get("cairn_wal_bytes_total", 0) > 0, "WAL bytes counted")
    status, body = srv.get("/health")
    c.ok(status == 200 and b'"status":"ok"' in body, "health ok: %r" % body)
    c.eq(srv.get("/bogus"), (404, b"-Invalid url /bogus\r\n"), "unknown URL")
    c.eq(srv.get("/api/query"), (404, b"-Invalid url /api/query\r\n"), "GET /api/query")

    # A line longer than graphite.max_line_bytes closes that connection (carbon does) and the
    # rest of it is not stored; other connections keep working.
    with socket.create_connection(("127.0.0.1", srv.tcp), timeout=10) as s:
        s.sendall(b"long.line 1 %d\n" % T0 + b"x" * 20000 + b" 1 1\nlong.after 1 %d\n" % T0)
        s.settimeout(10)
        closed = False
        try:
            closed = s.recv(10) == b""
        except ConnectionResetError:
            closed = True
        c.ok(closed, "over-long line closes the connection")
    srv.send_tcp("long.other 2 %d\n" % T0)
    c.eventually_eq(lambda: csv_query(srv, "long.other", FROM, TO),
                    (200, "long.other,ts=%d,2\n" % (T0 * NS)), "other connection still served")
    c.eventually_eq(lambda: csv_query(srv, "long.line", FROM, TO),
                    (200, "long.line,ts=%d,1\n" % (T0 * NS)), "line before the long one stored")
    c.eq(csv_query(srv, "long.after", FROM, TO)[1], "-not found\r\n",
         "line after the long one dropped with the connection")
    c.eq(srv.metrics().get('cairn_long_lines_total{listener="graphite_tcp"}'), 1.0,
         "long line counted")

    # Clean restart: SIGTERM exits 0, everything is still there.
    c.eq(srv.stop(), 0, "SIGTERM exits 0")
    srv.start()
    check_all("after restart")

    # kill -9 after the sync interval: nothing is lost.
    srv.send_tcp("test.crash 42 %d\n" % T0)
    srv.wait_for(lambda: csv_query(srv, "test.crash", FROM, TO)[1].count("\n") == 1)
    time.sleep(0.5)
    srv.kill9()
    srv.start()
    check_all("after kill -9")
    c.eq(csv_query(srv, "test.crash", FROM, TO), (200, "test.crash,ts=%d,42\n" % (T0 * NS)),
         "point written before kill -9")
    c.eq(srv.stop(), 0, "stop")

    code, out = run_cairn("check", srv.data_dir)
    c.ok(code == 0 and "OK" in out, "cairn check passes: %s" % out)
    code, out = run_cairn("dump", srv.data_dir)
    c.ok(code == 0 and "test.a %d 1.5\n" % (T0 * NS) in out and
         "cpu dc=x host=a %d 7\n" % (T0 * NS) in out, "cairn dump prints points")
finally:
    if c.failed:
        print(srv.log_text())
    srv.cleanup()
c.finish()
