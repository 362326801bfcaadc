"""Black-box test of the OpenTSDB telnet listener: put with second, millisecond, microsecond,
nanosecond and fractional timestamps, \\r\\n line ends, tags canonicalised; version, stats,
help, dropcaches, exit; bad puts and unknown commands answered with OpenTSDB's error line while
the connection keeps serving; everything read back exactly through /api/query."""
import socket
import time

from harness import Checks, Server, csv_query

T0 = 1483228800  # 20170101T000000
NS = 1000000000
FROM, TO = (T0 - 100) * NS, (T0 + 10000) * NS

c = Checks()
srv = Server().start()
try:
    reply = srv.converse(srv.opentsdb,
                         "put sys.cpu %d 10.5 host=a dc=x\n" % T0 +
                         "put sys.cpu %d000 11 dc=x host=a\r\n" % (T0 + 10) +          # ms
                         "put sys.cpu %d000000 12 host=a dc=x\n" % (T0 + 20) +          # us
                         "put sys.cpu %d000000000 13 host=a dc=x\n" % (T0 + 30) +       # ns
                         "put sys.cpu %d.5 14 host=a dc=x\n" % (T0 + 40) +              # fraction
                         "put sys.cpu %d -1.25e1 host=b dc=x\n" % T0 +
                         "put sys.cpu %d nan host=a dc=x\n" % (T0 + 50) +               # dropped
                         "put sys.cpu\n"                                                 # too short
                         "put sys.cpu %d 1\n" % T0 +                                     # no tag
                         "nosuchcommand\n"
                         "put sys.mem %d 99 host=a\n" % T0)                              # still served
    c.eq(reply.decode(),
         "put: illegal argument: not enough arguments (need least 4, got 1)\n"
         "put: illegal argument: not enough arguments (need least 4, got 3)\n"
         "unknown command: nosuchcommand.  Try `help'.\n",
         "error lines for the bad lines only, connection kept")
    c.eventually_eq(lambda: csv_query(srv, "sys.mem", FROM, TO),
                    (200, "sys.mem host=a,ts=%d,99\n" % (T0 * NS)), "put after errors stored")
    c.eq(csv_query(srv, "sys.cpu", FROM, TO, ',"where":{"host":"a"}'),
         (200, "".join("sys.cpu dc=x host=a,ts=%d,%s\n" % (ts, v) for ts, v in [
             (T0 * NS, "10.5"), ((T0 + 10) * NS, "11"), ((T0 + 20) * NS, "12"),
             ((T0 + 30) * NS, "13"), ((T0 + 40) * NS + NS // 2, "14")])),
         "s/ms/us/ns/fractional timestamps and canonical tags")
    c.eq(csv_query(srv, "sys.cpu", FROM, TO, ',"where":{"host":"b"}'),
         (200, "sys.cpu dc=x host=b,ts=%d,-12.5\n" % (T0 * NS)), "negative exponent value")

    # Commands on one connection; `exit` closes it.
    with socket.create_connection(("127.0.0.1", srv.opentsdb), timeout=10) as s:
        s.settimeout(10)
        f = s.makefile("rb")
        s.sendall(b"version\n")
        line = f.readline()
        c.ok(line.startswith(b"net.opentsdb.tools BuildData built at revision"),
             "version: %r" % line)
        f.readline()
        s.sendall(b"dropcaches\n")
        c.eq(f.readline(), b"Caches dropped.\n", "dropcaches")
        s.sendall(b"stats\n")
        stats = b""
        deadline = time.time() + 10
        while b"cairn.lines.bad" not in stats and time.time() < deadline:
            stats += s.recv(65536)
        c.ok(b"cairn.points.received " in stats and b"listener=opentsdb_tcp" in stats,
             "stats in OpenTSDB's format: %r" % stats[:200])
        s.sendall(b"help\n")
        c.ok(len(s.recv(4096)) > 0, "help answers")
        s.sendall(b"exit\n")
        rest = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                rest += chunk
        except socket.timeout:
            rest = None
        c.ok(rest is not None, "exit closes the connection")
    m = srv.metrics()
    c.eq(m.get('cairn_bad_lines_total{listener="opentsdb_tcp"}'), 3.0, "bad lines counted")
    c.eq(m.get('cairn_nan_dropped_total{listener="opentsdb_tcp"}'), 1.0, "NaN counted")
    c.eq(srv.stop(), 0, "clean stop")
finally:
    if c.failed:
        print(srv.log_text())
    srv.cleanup()
c.finish()
