"""Black-box test of every error row of Akumuli's RESP and OpenTSDB error tables
(reference/akumuli.md §4.1 and §5, docs/protocols.md "Error replies" and "Error lines") against
the real cairnd: the exact reply bytes of each row, and that the server keeps serving other
connections meanwhile.

RESP (TCP): every row gets a fresh connection; the trigger is sent (without a half-close, so the
EOF proves the server closed on its own) and the reply read until EOF. The reply must be exactly
Akumuli's line, and the server must close the connection after it. The context of a -PARSER line
is the bytes from the start of the failing message up to, not including, its third '\\n' among
the bytes received, CR and LF written as the two characters \\r and \\n.

Akumuli messages cairn cannot produce (docs/protocols.md, end of "Error replies"), not tested:
`floating point value can't be that big`, `event value is too big` (the out-of-quota windows of
62 float bytes and 1022 string bytes fire first), `integer expected`, `bad call`,
`declared object size is too large`, `bad end of stream` (a bulk string is refused at its `$`, and
the grammar has no other path to them). `-DB <other storage texts>` (not found, overflow, I/O
error) have no input that produces them on the RESP listener. The rows that need other settings
(-DB late write with resp.late_writes = reject, names over net.max_tags / net.max_name_bytes)
run on a second server started with them.

OpenTSDB (TCP): cairn keeps the connection open after an error line, as OpenTSDB does, so every
input of every row of the "Error lines" table (plus `rollup`, `histogram` and unknown commands) is
sent on one connection, then a good put; the concatenated reply must be exact and the good put
stored; nothing from the error lines is stored.

Witnesses: one RESP and one OpenTSDB connection stay open from before the first error row to the
end, each writing a point (distinct timestamps) after every row; all of them must be read back
exactly through /api/query, and neither witness may receive a byte.

Counters: every RESP error row is one refused message, counted once in
cairn_bad_frames_total{listener="resp_tcp"} (src/net/resp_in.c counts each failed resp_parse,
which ends the connection; -DB and -ERR replies included); every OpenTSDB error line is one
cairn_bad_lines_total{listener="opentsdb_tcp"} (src/net/opentsdb_in.c counts each line whose
otsdb_parse_line fails: bad puts, limits, rollup/histogram and unknown commands alike).
"""
import socket
import time

from harness import Checks, Server, csv_query

NS = 1000000000
T0 = 1500000000            # witness timestamps: T0 + i seconds
ALL_FROM, ALL_TO = 0, 1 << 62
ROW_TIMEOUT = 5.0          # per RESP row: reply and EOF within this


def resp_row(port, data, timeout=ROW_TIMEOUT):
    """Send data on a fresh TCP connection without half-closing it; return (reply, how it
    ended): 'eof' if the server closed the connection, else 'timeout' or 'reset'."""
    out = b""
    deadline = time.time() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except OSError:
            pass  # the server may close before taking every byte; its reply is still read
        while True:
            left = deadline - time.time()
            if left <= 0:
                return out, "timeout"
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                return out, "timeout"
            except ConnectionResetError:
                return out, "reset"
            if not chunk:
                return out, "eof"
            out += chunk


def read_exactly(s, n, timeout):
    """Read from s until n bytes arrived, EOF, or the timeout; returns what was read."""
    out = b""
    deadline = time.time() + timeout
    while len(out) < n:
        left = deadline - time.time()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            chunk = s.recv(n - len(out))
        except (socket.timeout, ConnectionResetError):
            break
        if not chunk:
            break
        out += chunk
    return out


def nothing_pending(s):
    """True if no byte is waiting on s (a witness must never be answered)."""
    s.settimeout(0.0)
    try:
        s.recv(1)
    except (BlockingIOError, socket.timeout):
        return True
    finally:
        s.settimeout(10)
    return False  # a byte or an EOF: both wrong for a witness


class Witnesses:
    """One RESP and one OpenTSDB connection that write a point after every error row."""

    def __init__(self, srv, resp_metric, otsdb_metric=None):
        self.srv = srv
        self.resp_metric = resp_metric
        self.otsdb_metric = otsdb_metric
        self.n = 0
        self.resp = socket.create_connection(("127.0.0.1", srv.resp), timeout=10)
        self.otsdb = None
        if otsdb_metric:
            self.otsdb = socket.create_connection(("127.0.0.1", srv.opentsdb), timeout=10)

    def write(self):
        i = self.n
        self.n += 1
        self.resp.sendall(b"+%s host=w\r\n:%d\r\n+%d\r\n" % (self.resp_metric.encode(),
                                                              (T0 + i) * NS, i))
        if self.otsdb:
            self.otsdb.sendall(b"put %s %d %d host=w\n" % (self.otsdb_metric.encode(), T0 + i, i))

    def check(self, c, what):
        """Both witnesses got no reply, stay open, and every point is stored exactly."""
        c.ok(nothing_pending(self.resp), "%s: RESP witness got no reply and is still open" % what)
        if self.otsdb:
            c.ok(nothing_pending(self.otsdb),
                 "%s: OpenTSDB witness got no reply and is still open" % what)
        # Half-close: the server answers with EOF and nothing else.
        for s, name in ((self.resp, "RESP"), (self.otsdb, "OpenTSDB")):
            if s is None:
                continue
            s.shutdown(socket.SHUT_WR)
            c.eq(read_exactly(s, 1 << 16, 10), b"", "%s: %s witness reply" % (what, name))
            s.close()
        want = "".join("%s host=w,ts=%d,%d\n" % (self.resp_metric, (T0 + i) * NS, i)
                       for i in range(self.n))
        c.eventually_eq(lambda: csv_query(self.srv, self.resp_metric, ALL_FROM, ALL_TO),
                        (200, want), "%s: every RESP witness point stored" % what)
        if self.otsdb:
            want = "".join("%s host=w,ts=%d,%d\n" % (self.otsdb_metric, (T0 + i) * NS, i)
                           for i in range(self.n))
            c.eventually_eq(lambda: csv_query(self.srv, self.otsdb_metric, ALL_FROM, ALL_TO),
                            (200, want), "%s: every OpenTSDB witness point stored" % what)


def counter(srv, name, listener):
    return srv.metrics().get('%s{listener="%s"}' % (name, listener), 0.0)


# ---- RESP rows: (row, trigger bytes, exact reply) ----------------------------------------------

P = b"-PARSER "
NAME_1023 = b"m t=" + b"v" * 1019                 # 1023 bytes: one over the string quota
FLOAT_63 = b"0." + b"0" * 60 + b"1"               # 63 bytes: one over the float quota
WIDE = b"m" + b"|m" * 256                         # 257 metrics: one over the row width


def full_dictionary(name):
    """100 000 distinct dictionary ids (the per-session cap, RESP_DICT_ENTRIES) in arrays of
    1000 pairs (an array must fit the 1 MiB receive window): about 1.8 MB."""
    parts = []
    ident = 1
    for _ in range(100):
        parts.append(b"*2000\r\n")
        for _ in range(1000):
            parts.append(b"+%s\r\n:%d\r\n" % (name, ident))
            ident += 1
    return b"".join(parts)


def dict_too_large():
    """A full dictionary, then one more id."""
    return full_dictionary(b"d h=1") + b"*2\r\n+d h=1\r\n:100001\r\n"


RESP_ROWS = [
    # invalid series name format: no tag, tag without '=', tag without key, empty compound
    # metric, unknown dictionary id, over 256 metrics; and Akumuli's own example.
    ("invalid series name: reference example", b"+cpu\r\n:1418224205000000000\r\n+5.0\r\n",
     P + b"invalid series name format - +cpu\\r\\n:1418224205000000000\\r\\n+5.0\\r\r\n"),
    ("invalid series name: tag without '='", b"+cpu host\r\n:1\r\n:1\r\n",
     P + b"invalid series name format - +cpu host\\r\\n:1\\r\\n:1\\r\r\n"),
    ("invalid series name: tag without key", b"+cpu =v\r\n:1\r\n:1\r\n",
     P + b"invalid series name format - +cpu =v\\r\\n:1\\r\\n:1\\r\r\n"),
    ("invalid series name: empty compound metric", b"+a||b x=1\r\n:1\r\n:1\r\n",
     P + b"invalid series name format - +a||b x=1\\r\\n:1\\r\\n:1\\r\r\n"),
    ("invalid series name: unknown dictionary id", b":1\r\n:1\r\n:1\r\n",
     P + b"invalid series name format - :1\\r\\n:1\\r\\n:1\\r\r\n"),
    ("invalid series name: 257 metrics", b"+" + WIDE + b" t=1\r\n:1\r\n*257\r\n",
     P + b"invalid series name format - +" + WIDE + b" t=1\\r\\n:1\\r\\n*257\\r\r\n"),
    ("invalid series name: incomplete message answered at once", b"+metric\r\n:123\r\n+5.0",
     P + b"invalid series name format - +metric\\r\\n:123\\r\\n+5.0\r\n"),
    # unexpected parameter id format: a lone \n (Akumuli issue #94), '-', '$', and '*' after
    # the dictionary phase (the context starts at the failing message; the point before it
    # is stored, checked below).
    ("unexpected parameter id format: lone \\n", b"\n",
     P + b"unexpected parameter id format - \\n\r\n"),
    ("unexpected parameter id format: -ERR", b"-ERR\r\n",
     P + b"unexpected parameter id format - -ERR\\r\\n\r\n"),
    ("unexpected parameter id format: bulk string", b"$3\r\nabc\r\n:1\r\n",
     P + b"unexpected parameter id format - $3\\r\\nabc\\r\\n:1\\r\r\n"),
    ("unexpected parameter id format: array after data",
     b"+idfmt.before h=1\r\n:%d\r\n:1\r\n*2\r\n+b h=1\r\n:1\r\n" % (T0 * NS),
     P + b"unexpected parameter id format - *2\\r\\n+b h=1\\r\\n:1\\r\r\n"),
    # unexpected series name format: a dictionary pair that is not +name then :id.
    ("unexpected series name format: id first", b"*2\r\n:1\r\n+a h=1\r\n",
     P + b"unexpected series name format - *2\\r\\n:1\\r\\n+a h=1\\r\r\n"),
    ("unexpected series name format: string id", b"*2\r\n+a h=1\r\n+1\r\n",
     P + b"unexpected series name format - *2\\r\\n+a h=1\\r\\n+1\\r\r\n"),
    ("dictionary odd", b"*3\r\n+a h=1\r\n:1\r\n",
     P + b"number of elements in the dictionary should be even - *3\\r\\n+a h=1\\r\\n:1\\r\r\n"),
    # unexpected parameter timestamp format: extended ISO, month 13, past 2^63-1 ns, an array.
    ("timestamp: extended ISO", b"+m t=1\r\n+2014-12-10 07:43:43\r\n+1\r\n",
     P + b"unexpected parameter timestamp format - +m t=1\\r\\n+2014-12-10 07:43:43\\r\\n"
     b"+1\\r\r\n"),
    ("timestamp: month 13", b"+m t=1\r\n+20141310T074343\r\n+1\r\n",
     P + b"unexpected parameter timestamp format - +m t=1\\r\\n+20141310T074343\\r\\n+1\\r\r\n"),
    ("timestamp: past 2^63-1 ns", b"+m t=1\r\n:9223372036854775808\r\n:1\r\n",
     P + b"unexpected parameter timestamp format - +m t=1\\r\\n:9223372036854775808\\r\\n"
     b":1\\r\r\n"),
    ("timestamp: array", b"+m t=1\r\n*1\r\n+1\r\n",
     P + b"unexpected parameter timestamp format - +m t=1\\r\\n*1\\r\\n+1\\r\r\n"),
    # unexpected parameter value format: '$', '-', any other byte, a nested array element.
    ("value format: bulk string", b"+m t=1\r\n:1\r\n$3\r\nabc\r\n",
     P + b"unexpected parameter value format - +m t=1\\r\\n:1\\r\\n$3\\r\r\n"),
    ("value format: -ERR", b"+m t=1\r\n:1\r\n-ERR\r\n",
     P + b"unexpected parameter value format - +m t=1\\r\\n:1\\r\\n-ERR\\r\r\n"),
    ("value format: other byte", b"+m t=1\r\n:1\r\nx\r\n",
     P + b"unexpected parameter value format - +m t=1\\r\\n:1\\r\\nx\\r\r\n"),
    ("value format: array element", b"+a|b t=1\r\n:1\r\n*2\r\n:1\r\n*1\r\n",
     P + b"unexpected parameter value format - +a|b t=1\\r\\n:1\\r\\n*2\\r\r\n"),
    ("array expected, string found", b"+a|b t=1\r\n:1\r\n+1.5\r\n",
     P + b"array expected (bulk format), string found - +a|b t=1\\r\\n:1\\r\\n+1.5\\r\r\n"),
    ("array expected, integer found", b"+a|b t=1\r\n:1\r\n:15\r\n",
     P + b"array expected (bulk format), integer found - +a|b t=1\\r\\n:1\\r\\n:15\\r\r\n"),
    ("wrong array size, more", b"+a|b t=1\r\n:1\r\n*1\r\n:1\r\n",
     P + b"wrong array size, more values expected - +a|b t=1\\r\\n:1\\r\\n*1\\r\r\n"),
    ("wrong array size, less", b"+a|b t=1\r\n:1\r\n*3\r\n:1\r\n",
     P + b"wrong array size, less values expected - +a|b t=1\\r\\n:1\\r\\n*3\\r\r\n"),
    ("can't parse double", b"+m t=1\r\n:1\r\n+abc\r\n",
     P + b"can't parse double value: abc - +m t=1\\r\\n:1\\r\\n+abc\\r\r\n"),
    ("can't parse double: trailing space", b"+m t=1\r\n:1\r\n+1.5 \r\n",
     P + b"can't parse double value: 1.5  - +m t=1\\r\\n:1\\r\\n+1.5 \\r\r\n"),
    ("can't parse double: array element", b"+a|b t=1\r\n:1\r\n*2\r\n:1\r\n+zz\r\n",
     P + b"can't parse double value: zz - +a|b t=1\\r\\n:1\\r\\n*2\\r\r\n"),
    ("unexpected event format", b"+!ev|m t=1\r\n:1\r\n*2\r\n:5\r\n:5\r\n",
     P + b"unexpected event format - +!ev|m t=1\\r\\n:1\\r\\n*2\\r\r\n"),
    # out of quota: name over 1022 bytes, timestamp over 26, float text over 62.
    ("out of quota: name", b"+" + NAME_1023 + b"\r\n:1\r\n:1\r\n",
     P + b"out of quota - +" + NAME_1023 + b"\\r\\n:1\\r\\n:1\\r\r\n"),
    ("out of quota: timestamp", b"+m t=1\r\n+aaaaaaaaaaaaaaaaaaaaaaaaaa1\r\n:1\r\n",
     P + b"out of quota - +m t=1\\r\\n+aaaaaaaaaaaaaaaaaaaaaaaaaa1\\r\\n:1\\r\r\n"),
    ("out of quota: float", b"+m t=1\r\n:1\r\n+" + FLOAT_63 + b"\r\n",
     P + b"out of quota - +m t=1\\r\\n:1\\r\\n+" + FLOAT_63 + b"\\r\r\n"),
    ("integer is too long", b"+m t=1\r\n:1\r\n:123456789012345678901\r\n",
     P + b"integer is too long - +m t=1\\r\\n:1\\r\\n:123456789012345678901\\r\r\n"),
    ("integer overflow", b"+m t=1\r\n:1\r\n:18446744073709551616\r\n",
     P + b"integer overflow - +m t=1\\r\\n:1\\r\\n:18446744073709551616\\r\r\n"),
    ("can't parse integer: letter", b"+m t=1\r\n:1\r\n:12a\r\n",
     P + b"can't parse integer (character value out of range) - +m t=1\\r\\n:1\\r\\n:12a\\r\r\n"),
    ("can't parse integer: negative timestamp", b"+m t=1\r\n:-5\r\n:1\r\n",
     P + b"can't parse integer (character value out of range) - +m t=1\\r\\n:-5\\r\\n:1\\r\r\n"),
    ("can't parse integer: negative array size", b"+a|b t=1\r\n:1\r\n*-2\r\n",
     P + b"can't parse integer (character value out of range) - +a|b t=1\\r\\n:1\\r\\n*-2\\r\r\n"),
    ("invalid symbol '\\r' in a value", b"+m t=1\r\n:1\r\n:12\r5\r\n",
     P + b"invalid symbol inside stream - '\\r' - +m t=1\\r\\n:1\\r\\n:12\\r5\\r\r\n"),
    ("invalid symbol '\\r' in an id", b":12\r5\r\n",
     P + b"invalid symbol inside stream - '\\r' - :12\\r5\\r\\n\r\n"),
    # Storage errors: no context.
    ("-DB bad argument", b"+!ev host=a\r\n:1\r\n:5\r\n", b"-DB bad argument\r\n"),
    # cairn's own cap (Akumuli has none): the 100 001st id of one session's dictionary.
    ("-ERR dictionary is too large", dict_too_large(), b"-ERR dictionary is too large\r\n"),
]

# ---- OpenTSDB rows: (row, [input lines], exact reply for each line) ---------------------------

IA = b"put: illegal argument: "
IV = b"put: invalid value: "
TAGS_65 = [b"t%02d=v" % i for i in range(65)]       # one over net.max_tags (default 64)
LONG_VALUE = b"1" * 256                            # one over OTSDB_NUM_MAX (255)
LONG_TAG = b"h=" + b"v" * 4100                     # key "m h=v..." is 4104 bytes > 4096

OTSDB_ROWS = [
    ("not enough arguments",
     [b"put\n", b"put m\n", b"put m 1\r\n", b"put m 1 2\n"],
     [IA + b"not enough arguments (need least 4, got %d)\n" % n for n in range(4)]),
    ("empty metric", [b"put  1 2 h=a\n"], [IA + b"empty metric name\n"]),
    ("timestamp: invalid character",
     [b"put m notatime 42 h=a\n", b"put m 1.2.3 1 h=a\n"],
     [IV + b"Invalid character 'n' in notatime\n", IV + b"Invalid character '.' in 1.2.3\n"]),
    ("timestamp: empty", [b"put m  1 h=a\n"], [IV + b"Empty string\n"]),
    ("timestamp: just a sign", [b"put m - 1 h=a\n"], [IV + b"Just a sign, no value: -\n"]),
    ("timestamp: too long", [b"put m 12345678901234567890 1 h=a\n"],
     [IV + b"Value too long: 12345678901234567890\n"]),
    ("timestamp: overflow", [b"put m 9223372036854775808 1 h=a\n"],
     [IV + b"Overflow in 9223372036854775808\n"]),
    ("invalid timestamp",
     [b"put m 0 1 h=a\n", b"put m -5 1 h=a\n", b"put m 9223372037 1 h=a\n",
      b"put m 20171301T000000 1 h=a\n", b"put m .5 1 h=a\r\n"],
     [IA + b"invalid timestamp: 0\n", IA + b"invalid timestamp: -5\n",
      IA + b"invalid timestamp: 9223372037\n", IA + b"invalid timestamp: 20171301T000000\n",
      IA + b"invalid timestamp: .5\n"]),
    ("empty value", [b"put m 1  h=a\n"], [IA + b"empty value\n"]),
    ("invalid tag",
     [b"put m 1 2 host\n", b"put m 1 2 =a\n", b"put m 1 2 host=\n", b"put m 1 2 host=a=b\n"],
     [IA + b"invalid tag: host\n", IA + b"invalid tag: =a\n", IA + b"invalid tag: host=\n",
      IA + b"invalid tag: host=a=b\n"]),
    ("duplicate tag", [b"put m 1 2 dc=x host=a host=b\n"],
     [IA + b"duplicate tag: host=b, tags={dc=x, host=a}\n"]),
    ("value: invalid character",
     [b"put m 1 abc h=a\n", b"put m 1 0x10 h=a\n", b"put m 1 - h=a\n"],
     [IV + b"Invalid character 'a' in abc\n", IV + b"Invalid character 'x' in 0x10\n",
      IV + b"Just a sign, no value: -\n"]),
    ("value: for input string", [b"put m 1 1.5x h=a\n", b"put m 1 1e h=a\n"],
     [IV + b'For input string: "1.5x"\n', IV + b'For input string: "1e"\n']),
    ("value: multiple points", [b"put m 1 1.2.3 h=a\n"], [IV + b"multiple points\n"]),
    ("value: too long", [b"put m 1 " + LONG_VALUE + b" h=a\n"],
     [IV + b"Value too long: " + LONG_VALUE + b"\n"]),
    ("no tag", [b"put m 1 2 \n"], [IA + b"Need at least one tag (metric=m, tags={})\n"]),
    ("too many tags", [b"put m 1 2 " + b" ".join(TAGS_65) + b"\n"],
     [IA + b"Too many tags: 65 maximum allowed: 64, tags: {" + b", ".join(TAGS_65) + b"}\n"]),
    ("illegal character",
     [b"put m\\ 1 2 h=a\n", b"put m\tx 1 2 h=a\n", b"put m 1 2 h\x01=a\n",
      b"put m 1 2 h=a\x7f\n", b"put m 1 2 h=a\\\n"],
     [IA + b'Invalid metric name ("m\\"): illegal character: \\\n',
      IA + b'Invalid metric name ("m\tx"): illegal character: \t\n',
      IA + b'Invalid tag name ("h\x01"): illegal character: \x01\n',
      IA + b'Invalid tag value ("a\x7f"): illegal character: \x7f\n',
      IA + b'Invalid tag value ("a\\"): illegal character: \\\n']),
    ("key too long", [b"put m 1 2 " + LONG_TAG + b"\n"],
     [IA + b"Series name too long: 4104 bytes maximum allowed: 4096\n"]),
    # From the commands table: verbs OpenTSDB knows but cairn does not serve.
    ("rollup", [b"rollup 1h-SUM m 1 2 h=a\n"],
     [b"rollup: illegal argument: No rollup or aggregations were configured\n"]),
    ("histogram", [b"histogram m 1 AAA= h=a\r\n"],
     [b"histogram: illegal argument: histograms are not supported\n"]),
    ("unknown command",
     [b"nosuchcommand\n", b"nosuchcommand with args\r\n", b"diediedie\n", b"PUT m 1 2 h=a\n",
      b" put m 1 2 h=a\n"],
     [b"unknown command: nosuchcommand.  Try `help'.\n",
      b"unknown command: nosuchcommand.  Try `help'.\n",
      b"unknown command: diediedie.  Try `help'.\n", b"unknown command: PUT.  Try `help'.\n",
      b"unknown command: .  Try `help'.\n"]),
]

c = Checks()
started = time.time()

# ---- server 1: RESP_ROWS with the default settings, every OpenTSDB row -------------------------
srv = Server().start()
try:
    resp_bad0 = counter(srv, "cairn_bad_frames_total", "resp_tcp")
    otsdb_bad0 = counter(srv, "cairn_bad_lines_total", "opentsdb_tcp")
    w = Witnesses(srv, "witness.resp", "witness.otsdb")
    w.write()

    for row, trigger, want in RESP_ROWS:
        reply, end = resp_row(srv.resp, trigger)
        c.eq(reply, want, "RESP %s: reply" % row)
        c.eq(end, "eof", "RESP %s: the server closes the connection" % row)
        w.write()
    c.eventually_eq(lambda: counter(srv, "cairn_bad_frames_total", "resp_tcp") - resp_bad0,
                    float(len(RESP_ROWS)), "RESP: one bad frame counted per error row",
                    timeout=5)
    # The cap is exact: a session with 100 000 ids is fine and its last id can be used.
    reply = srv.converse(srv.resp, full_dictionary(b"dict.cap h=1") +
                         b":100000\r\n:%d\r\n+3\r\n" % (T0 * NS))
    c.eq(reply, b"", "RESP: a dictionary of exactly 100 000 ids is accepted")
    w.write()
    c.eventually_eq(lambda: csv_query(srv, "dict.cap", ALL_FROM, ALL_TO),
                    (200, "dict.cap h=1,ts=%d,3\n" % (T0 * NS)),
                    "RESP: the 100 000th dictionary id resolves")
    c.eventually_eq(lambda: csv_query(srv, "idfmt.before", ALL_FROM, ALL_TO),
                    (200, "idfmt.before h=1,ts=%d,1\n" % (T0 * NS)),
                    "RESP: the message before an error is stored")

    # OpenTSDB: one connection for every error line; it stays open. A good put first, so the
    # lines whose metric and tags match it also go through the name-cache fast path.
    o = socket.create_connection(("127.0.0.1", srv.opentsdb), timeout=10)
    o.sendall(b"put m 1 5 h=a\n")
    got_all = b""
    want_all = b""
    lines_sent = 0
    for row, lines, wants in OTSDB_ROWS:
        for line, want in zip(lines, wants):
            o.sendall(line)
            got = read_exactly(o, len(want), 5)
            c.eq(got, want, "OpenTSDB %s: reply to %r" % (row, line[:60]))
            got_all += got
            want_all += want
            lines_sent += 1
        w.write()
    o.sendall(b"put errs.after %d 7 host=a\n" % T0)
    o.shutdown(socket.SHUT_WR)
    got_all += read_exactly(o, 1 << 20, 10)
    o.close()
    c.eq(got_all, want_all, "OpenTSDB: the concatenated reply of every error line, nothing more")
    c.eventually_eq(lambda: csv_query(srv, "errs.after", ALL_FROM, ALL_TO),
                    (200, "errs.after host=a,ts=%d,7\n" % (T0 * NS)),
                    "OpenTSDB: the good put after the error lines is stored")
    c.eq(csv_query(srv, "m", ALL_FROM, ALL_TO), (200, "m h=a,ts=%d,5\n" % NS),
         "nothing of the RESP and OpenTSDB error rows is stored under m")
    c.eventually_eq(lambda: counter(srv, "cairn_bad_lines_total", "opentsdb_tcp") - otsdb_bad0,
                    float(lines_sent), "OpenTSDB: one bad line counted per error line",
                    timeout=5)

    w.check(c, "server 1")
    c.eq(counter(srv, "cairn_bad_frames_total", "resp_tcp") - resp_bad0, float(len(RESP_ROWS)),
         "RESP: the witness added no bad frame")
    c.eq(srv.stop(), 0, "server 1: clean stop")
finally:
    if c.failed:
        print(srv.log_text())
    srv.cleanup()

# ---- server 2: resp.late_writes = reject and low name limits ---------------------------------
# The -DB late write row, and the two "invalid series name format" triggers that the defaults
# cannot reach (max_tags 64 and max_name_bytes 4096 are above Akumuli's 32 tags and 1022 bytes).
LIMIT_ROWS = [
    ("-DB late write",
     b"+lw host=a\r\n:%d\r\n+1\r\n+lw host=a\r\n:%d\r\n+2\r\n" % (T0 * NS + 20, T0 * NS + 10),
     b"-DB late write\r\n"),
    ("invalid series name: over net.max_tags", b"+m a=1 b=2 c=3\r\n:1\r\n:1\r\n",
     P + b"invalid series name format - +m a=1 b=2 c=3\\r\\n:1\\r\\n:1\\r\r\n"),
    ("invalid series name: over net.max_name_bytes", b"+mmmmmmmmmmmmmmmmmmmm a=123\r\n:1\r\n:1\r\n",
     P + b"invalid series name format - +mmmmmmmmmmmmmmmmmmmm a=123\\r\\n:1\\r\\n:1\\r\r\n"),
]
srv = Server(extra=["resp.late_writes=reject", "net.max_tags=2", "net.max_name_bytes=24"]).start()
try:
    resp_bad0 = counter(srv, "cairn_bad_frames_total", "resp_tcp")
    w = Witnesses(srv, "witness.late")
    w.write()
    for row, trigger, want in LIMIT_ROWS:
        reply, end = resp_row(srv.resp, trigger)
        c.eq(reply, want, "RESP %s: reply" % row)
        c.eq(end, "eof", "RESP %s: the server closes the connection" % row)
        w.write()
    c.eventually_eq(lambda: counter(srv, "cairn_bad_frames_total", "resp_tcp") - resp_bad0,
                    float(len(LIMIT_ROWS)), "RESP server 2: one bad frame counted per error row",
                    timeout=5)
    c.eventually_eq(lambda: csv_query(srv, "lw", ALL_FROM, ALL_TO),
                    (200, "lw host=a,ts=%d,1\n" % (T0 * NS + 20)),
                    "late write: the point before it is stored, the late one is not")
    w.check(c, "server 2")
    c.eq(srv.stop(), 0, "server 2: clean stop")
finally:
    if c.failed:
        print(srv.log_text())
    srv.cleanup()

print("%d + %d RESP rows, %d OpenTSDB rows (%d lines) in %.1fs"
      % (len(RESP_ROWS), len(LIMIT_ROWS), len(OTSDB_ROWS), sum(len(r[1]) for r in OTSDB_ROWS),
         time.time() - started))
c.finish()
