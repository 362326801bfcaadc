"""Black-box test of Akumuli event series: `!name` series written over RESP (single messages,
bulk rows mixing events and numbers, UDP) and read back with `select-events`, modelled on
Akumuli's own functional test test_events.py (4 series `!foo A=.. B=..`, texts of growing
length with spaces); the regex filter; timestamps kept to the microsecond as Akumuli stores
them; last write wins; events survive a flush and a kill -9 (WAL), and `cairn check` / `cairn
dump` read them."""
import re

from harness import Checks, Server, run_cairn

NS = 1000000000
T0 = 1500000000  # 20170714T024000
N = 400          # events per series

c = Checks()
srv = Server(extra=["storage.sync_interval=100ms"]).start()
SERIES = ["!foo A=1 B=1", "!foo A=1 B=2", "!foo A=2 B=1", "!foo A=2 B=2"]


def resp(data):
    return srv.converse(srv.resp, data.encode())


def events_query(name, frm, to, extra=""):
    q = ('{"select-events":"%s","range":{"from":%d,"to":%d},'
         '"output":{"format":"csv","timestamp":"raw"}%s}' % (name, frm, to, extra))
    status, body = srv.query(q)
    return status, body.decode("utf-8", "replace")


def text_for(cnt, sname, ts):
    full = "%d event %s for %d generated" % (cnt, sname, ts)
    return full[:cnt % len(full) + 1]


def expected(frm, to):
    rows = []
    for i in range(N):
        ts = (T0 + i) * NS
        for k, s in enumerate(SERIES):
            cnt = i * len(SERIES) + k
            rows.append((ts, k, "%s,ts=%d,%s\n" % (s, ts, text_for(cnt, s, ts))))
    rows = [r for r in rows if frm <= r[0] < to] if frm < to else \
        [r for r in reversed(rows) if to < r[0] <= frm]
    return "".join(r[2] for r in rows)


try:
    msgs = []
    for i in range(N):
        ts = (T0 + i) * NS
        for k, s in enumerate(SERIES):
            msgs.append("+%s\r\n:%d\r\n+%s\r\n" % (s, ts, text_for(i * len(SERIES) + k, s, ts)))
    c.eq(resp("".join(msgs)), b"", "events accepted, nothing sent back")
    FROM, TO = T0 * NS, (T0 + N) * NS
    c.eventually_eq(lambda: events_query("!foo", FROM, TO, ',"order-by":"time"'),
                    (200, expected(FROM, TO)), "every event back in time order, texts exact")
    c.eq(events_query("!foo", TO - 1, FROM - 1), (200, expected(TO - 1, FROM - 1)),
         "backward range: reverse order")
    c.eq(events_query("!foo", FROM, TO, ',"where":{"A":"2","B":"1"},"limit":3'),
         (200, "".join("!foo A=2 B=1,ts=%d,%s\n" % ((T0 + i) * NS,
                                                   text_for(i * 4 + 2, "!foo A=2 B=1",
                                                            (T0 + i) * NS))
                       for i in range(3))), "where + limit")
    pattern = "^1[0-9]* event .*A=1 B=2"
    want = "".join(line for line in expected(FROM, TO).splitlines(True)
                   if re.search(pattern, line.split(",", 2)[2]))
    c.ok(want.count("\n") >= 3, "the filter test selects something")
    c.eq(events_query("!foo", FROM, TO, ',"filter":"%s"' % pattern), (200, want),
         "regex filter on the text")
    c.eq(srv.query('{"select-events":"foo","range":{"from":1,"to":2}}')[1],
         b"-Event name should start with '!' symbol\r\n", "name without !")
    c.eq(srv.query('{"select":"!foo","range":{"from":1,"to":2}}')[1],
         b"-Metric name can't be empty or start with '!' symbol\r\n", "select refuses events")
    names = srv.query('{"select":"meta:names","output":{"format":"csv"}}')[1].decode()
    c.ok(all(s + "\n" in names for s in SERIES), "meta:names lists event series")

    # Bulk row mixing a metric and an event; microsecond precision; last write wins.
    t1 = T0 * NS + 123456789
    c.eq(resp("+cpu.user|!cpu.note host=m1\r\n:%d\r\n*2\r\n+3.5\r\n+over load\r\n" % t1), b"",
         "bulk row with an event element")
    c.eventually_eq(lambda: events_query("!cpu.note", 0, 2 * T0 * NS),
                    (200, "!cpu.note host=m1,ts=%d,over load\n" % (t1 // 1000 * 1000)),
                    "event timestamp kept to the microsecond")
    c.eq(srv.query('{"select":"cpu.user","range":{"from":0,"to":%d},'
                   '"output":{"format":"csv","timestamp":"raw"}}' % (2 * T0 * NS))[1].decode(),
         "cpu.user host=m1,ts=%d,3.5\n" % t1, "the numeric element of the row")
    resp("+!cpu.note host=m1\r\n:%d\r\n+replaced\r\n" % t1)
    c.eventually_eq(lambda: events_query("!cpu.note", 0, 2 * T0 * NS),
                    (200, "!cpu.note host=m1,ts=%d,replaced\n" % (t1 // 1000 * 1000)),
                    "same series and time: the last write wins")

    # Errors of the event path are Akumuli's.
    c.eq(resp("+!ev host=a\r\n:1\r\n:5\r\n"), b"-DB bad argument\r\n", "integer event value")
    c.ok(resp("+a|!b host=a\r\n:1\r\n*2\r\n+1\r\n:2\r\n").startswith(b"-PARSER "),
         "integer element for an event in a bulk row")

    # A `!` name is an event series: numbers for it are refused (counted as a bad name).
    srv.send_tcp("!plain 1 %d\n" % T0)
    c.ok(srv.wait_for(lambda: srv.metrics().get(
        'cairn_points_rejected_bad_name_total{listener="graphite_tcp"}', 0) >= 1),
        "a number for a ! series is refused")
    c.eq(events_query("!plain", 0, 2 * T0 * NS)[1], "-not found\r\n", "and nothing stored")

    # UDP.
    srv.send_udp("+!udp.ev host=a\r\n:%d\r\n+from udp\r\n" % (T0 * NS), port=srv.resp)
    c.eventually_eq(lambda: events_query("!udp.ev", 0, 2 * T0 * NS),
                    (200, "!udp.ev host=a,ts=%d,from udp\n" % (T0 * NS)), "event over UDP")

    # Durable: after kill -9 (more than sync_interval later) everything is back.
    want_all = events_query("!foo", FROM, TO)
    srv.wait_for(lambda: False, timeout=0.5)
    srv.kill9()
    srv.start()
    c.eq(events_query("!foo", FROM, TO), want_all, "events recovered from the WAL after kill -9")
    c.eq(events_query("!cpu.note", 0, 2 * T0 * NS)[1],
         "!cpu.note host=m1,ts=%d,replaced\n" % (t1 // 1000 * 1000), "last write kept")
    # And after a clean stop (flushed into event blocks), with the offline tools.
    c.eq(srv.stop(), 0, "clean stop")
    code, out = run_cairn("check", srv.data_dir)
    c.eq(code, 0, "cairn check passes: " + out[-300:])
    code, out = run_cairn("dump", srv.data_dir)
    c.ok("!cpu.note host=m1 %d replaced\n" % (t1 // 1000 * 1000) in out, "cairn dump prints events")
    srv.start()
    c.eq(events_query("!foo", FROM, TO), want_all, "events read from segments after restart")
finally:
    srv.cleanup()
c.finish()
