"""Black-box test of the Akumuli RESP listeners (TCP and UDP): single points with integer-ns
and ISO timestamps, +float and :int (and :-int) values, bulk rows, dictionary mode, series name
canonicalisation; on the first error exactly Akumuli's reply line and the connection closes,
while other connections keep being served; UDP drops the rest of a bad datagram."""
from harness import Checks, Server, csv_query

NS = 1000000000
T0 = 1500000000  # 20170714T024000
FROM, TO = (T0 - 100) * NS, (T0 + 10000) * NS

c = Checks()
srv = Server().start()


def resp(data):
    return srv.converse(srv.resp, data.encode() if isinstance(data, str) else data)


try:
    reply = resp("+test.resp  region=eu host=a\r\n:%d\r\n+1.5\r\n" % (T0 * NS) +
                 "+test.resp host=b\r\n+20170714T024010.5\r\n:42\r\n"
                 "+cpu.real|cpu.user host=m1\r\n+20170714T024000\r\n*2\r\n+3.12\r\n:8\r\n"
                 "+neg host=a\n:%d\n:-5\n" % (T0 * NS) +          # bare \n and :-5 (issue #367)
                 "+esc\\ m host=a\\ b\r\n:%d\r\n+1e3\r\n" % (T0 * NS))
    c.eq(reply, b"", "nothing is sent back on success")
    c.eventually_eq(lambda: csv_query(srv, "test.resp", FROM, TO, ',"order-by":"series"'),
                    (200, "test.resp host=a region=eu,ts=%d,1.5\n" % (T0 * NS) +
                     "test.resp host=b,ts=%d,42\n" % (T0 * NS + 10 * NS + NS // 2)),
                    "single points, canonical names, ISO and ns timestamps")
    c.eq(csv_query(srv, "cpu.user", FROM, TO), (200, "cpu.user host=m1,ts=%d,8\n" % (T0 * NS)),
         "bulk row, :int element")
    c.eq(csv_query(srv, "cpu.real", FROM, TO),
         (200, "cpu.real host=m1,ts=%d,3.1200000000000001\n" % (T0 * NS)),
         "bulk row, +float element")
    c.eq(csv_query(srv, "neg", FROM, TO), (200, "neg host=a,ts=%d,-5\n" % (T0 * NS)),
         ":-5 accepted as -5")
    c.eq(csv_query(srv, "esc m", FROM, TO),
         (200, "esc\\ m host=a\\ b,ts=%d,1000\n" % (T0 * NS)), "escaped spaces kept")

    # Dictionary mode at session start, then ids instead of names.
    reply = resp("*4\r\n+dict.a host=m1\r\n:1\r\n+dict.b host=m1\r\n:2\r\n"
                 ":1\r\n+20170714T024000\r\n+11.2\r\n:2\r\n:%d\r\n:7\r\n" % (T0 * NS))
    c.eq(reply, b"", "dictionary session accepted")
    c.eventually_eq(lambda: csv_query(srv, "dict.b", FROM, TO),
                    (200, "dict.b host=m1,ts=%d,7\n" % (T0 * NS)), "dictionary id resolved")
    c.eq(csv_query(srv, "dict.a", FROM, TO),
         (200, "dict.a host=m1,ts=%d,11.199999999999999\n" % (T0 * NS)),
         "dictionary id resolved (ISO)")

    # Errors: exactly one reply line, then the connection is closed by the server; points of
    # the messages before the error are stored.
    reply = resp("+before host=a\r\n:%d\r\n+1\r\n" % (T0 * NS) +
                 "+cpu\r\n:1418224205000000000\r\n+5.0\r\n+after host=a\r\n:1\r\n+1\r\n")
    c.eq(reply, b"-PARSER invalid series name format - +cpu\\r\\n:1418224205000000000\\r\\n"
                b"+5.0\\r\r\n", "invalid series name: Akumuli's exact line with context")
    c.eventually_eq(lambda: csv_query(srv, "before", FROM, TO),
                    (200, "before host=a,ts=%d,1\n" % (T0 * NS)), "message before the error stored")
    c.eq(csv_query(srv, "after", FROM, TO)[1], "-not found\r\n", "nothing after the error")
    c.eq(resp("+!ev host=a\r\n:1\r\n:5\r\n"), b"-DB bad argument\r\n", "integer event value")
    c.ok(resp("+x host=a\r\n+2014-12-10 07:43:43\r\n+1\r\n").startswith(
        b"-PARSER unexpected parameter timestamp format - "), "bad timestamp")
    c.ok(resp("+a|b host=a\r\n:1\r\n*3\r\n+1\r\n+2\r\n+3\r\n").startswith(
        b"-PARSER wrong array size, less values expected - "), "bulk array too long")
    c.ok(resp("+x host=a\r\n:1\r\n+abc\r\n").startswith(
        b"-PARSER can't parse double value: abc - "), "bad float")
    c.eq(resp("+!ev host=a\r\n:1000\r\n+hello world\r\n"), b"",
         "event series accepted (see test_events.py)")
    c.ok(srv.metrics().get('cairn_bad_frames_total{listener="resp_tcp"}', 0) >= 5,
         "protocol errors counted")

    # UDP: good points stored, the rest of a bad datagram dropped, nothing sent back.
    srv.send_udp("+udp.a host=a\r\n:%d\r\n+1\r\n+bad\r\n:1\r\n+1\r\n+udp.b host=a\r\n:%d\r\n+2\r\n"
                 % (T0 * NS, T0 * NS), port=srv.resp)
    srv.send_udp("+udp.c host=a\r\n:%d\r\n+3\r\n" % (T0 * NS), port=srv.resp)
    c.eventually_eq(lambda: csv_query(srv, "udp.c", FROM, TO),
                    (200, "udp.c host=a,ts=%d,3\n" % (T0 * NS)), "next datagram served")
    c.eq(csv_query(srv, "udp.a", FROM, TO), (200, "udp.a host=a,ts=%d,1\n" % (T0 * NS)),
         "point before the error in a datagram stored")
    c.eq(csv_query(srv, "udp.b", FROM, TO)[1], "-not found\r\n", "rest of the datagram dropped")
    c.eq(srv.stop(), 0, "clean stop")
finally:
    if c.failed:
        print(srv.log_text())
    srv.cleanup()

# resp.late_writes = reject: Akumuli's "-DB late write" for a point older than the newest one
# of its series (equal timestamps are fine), then the connection closes.
srv = Server(extra=["resp.late_writes=reject"]).start()
try:
    reply = resp("+lw host=a\r\n:%d\r\n+1\r\n+lw host=a\r\n:%d\r\n+2\r\n"
                 "+lw host=b\r\n:%d\r\n+3\r\n+lw host=a\r\n:%d\r\n+4\r\n+lw host=a\r\n:%d\r\n+5\r\n"
                 % (T0 * NS + 10, T0 * NS + 10, T0 * NS, T0 * NS, T0 * NS + 20))
    c.eq(reply, b"-DB late write\r\n", "late write refused with Akumuli's line")
    c.eventually_eq(lambda: csv_query(srv, "lw", FROM, TO, ',"order-by":"series"'),
                    (200, "lw host=a,ts=%d,2\nlw host=b,ts=%d,3\n" % (T0 * NS + 10, T0 * NS)),
                    "points before the late one stored (equal timestamp: last wins)")
    c.eq(srv.stop(), 0, "clean stop")
    # The newest timestamps come back from the stored data after a restart.
    srv.start()
    c.eq(resp("+lw host=a\r\n:%d\r\n+6\r\n" % (T0 * NS + 5)), b"-DB late write\r\n",
         "late write refused after a restart")
    c.eq(resp("+lw host=a\r\n:%d\r\n+7\r\n" % (T0 * NS + 10)), b"",
         "equal to the newest stored timestamp: accepted after a restart")
    c.eq(srv.stop(), 0, "clean stop")
finally:
    if c.failed:
        print(srv.log_text())
    srv.cleanup()
c.finish()
