"""Black-box test of the AMQP consumer against a real RabbitMQ (Debian rabbitmq-server) started
here on 127.0.0.1 with a private data dir, ports, epmd, HOME (Erlang cookie) and node name.

Shows: both message formats read back exactly through POST /api/query (published with
amqp-publish from amqp-tools); malformed and oversized messages counted and acknowledged
(nothing is redelivered after a restart); a broker restart in the middle of a stream loses and
duplicates nothing; kill -9 of cairnd in the middle of a stream, then a restart: every point is
there. Streams are published by build/<mode>/amqp_pub (publisher confirms, republishes what the
broker did not confirm). If RabbitMQ or the tools are missing or the broker does not start, the
test says so and FAILS. Every wait is bounded; the broker is stopped by the PIDs of its beam.smp
and its epmd, which this test started."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from harness import CAIRND, Checks, Server, csv_query, free_port

NS = 1000000000
T0 = 1700000000
RABBIT_CANDIDATES = ["/usr/lib/rabbitmq/bin/rabbitmq-server"]
AMQP_PUB = os.environ.get("AMQP_PUB", os.path.join(os.path.dirname(CAIRND), "amqp_pub"))


def die(msg):
    print("FAILED: " + msg)
    print("0 passed, 1 failed")
    sys.exit(1)


def find_rabbit():
    for p in RABBIT_CANDIDATES:
        if os.access(p, os.X_OK):
            return p
    return None


class Broker:
    """One private RabbitMQ node and its epmd, both started and stopped here by PID."""

    def __init__(self, script):
        self.script = script
        self.dir = tempfile.mkdtemp(prefix="cairn-rabbit-")
        self.port = free_port()
        self.dist_port = free_port()
        self.epmd_port = free_port()
        self.node = "cairntest%d_%d@localhost" % (os.getpid(), self.port)
        self.url = "amqp://guest:guest@127.0.0.1:%d" % self.port
        self.proc = None
        self.beam_pid = None
        self.epmd = None
        os.makedirs(os.path.join(self.dir, "home"))
        with open(os.path.join(self.dir, "env.conf"), "w"):
            pass
        with open(os.path.join(self.dir, "enabled_plugins"), "w") as f:
            f.write("[].\n")
        with open(os.path.join(self.dir, "rabbitmq.conf"), "w") as f:
            f.write("disk_free_limit.absolute = 1MB\n")
        self.env = dict(os.environ)
        self.env.update({
            "HOME": os.path.join(self.dir, "home"),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_CONF_ENV_FILE": os.path.join(self.dir, "env.conf"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_BASE": self.dir,
            "RABBITMQ_MNESIA_BASE": os.path.join(self.dir, "mnesia"),
            "RABBITMQ_LOG_BASE": os.path.join(self.dir, "log"),
            "RABBITMQ_LOGS": "-",
            "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(self.dir, "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": os.path.join(self.dir, "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": os.path.join(self.dir, "advanced.config"),
            "RABBITMQ_PID_FILE": os.path.join(self.dir, "rabbit.pid"),
        })
        self.log_path = os.path.join(self.dir, "broker.log")

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-3000:]
        except OSError:
            return ""

    def _find_beam(self, root):
        """PID of the beam.smp among the descendants of root, or None."""
        todo = [root]
        while todo:
            pid = todo.pop()
            try:
                with open("/proc/%d/comm" % pid) as f:
                    if f.read().strip() == "beam.smp":
                        return pid
                with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
                    todo += [int(x) for x in f.read().split()]
            except OSError:
                continue
        return None

    def start(self, timeout=60):
        if self.epmd is None:
            self.epmd = subprocess.Popen(["epmd", "-port", str(self.epmd_port), "-address",
                                          "127.0.0.1"], env=self.env,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.script], env=self.env, stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.beam_pid is None:
                self.beam_pid = self._find_beam(self.proc.pid)
            if self.proc.poll() is not None:
                raise RuntimeError("rabbitmq-server exited with %s:\n%s" %
                                   (self.proc.returncode, self.log_text()))
            try:
                import socket
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    if self.beam_pid is not None:
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("rabbitmq-server did not open port %d within %ds:\n%s" %
                           (self.port, timeout, self.log_text()))

    def stop(self, timeout=30):
        """SIGTERM the node (a clean broker shutdown) and wait for it."""
        if self.proc is None:
            return
        if self.beam_pid is not None:
            try:
                os.kill(self.beam_pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            if self.beam_pid is not None:
                try:
                    os.kill(self.beam_pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.proc.wait(10)
        self.proc = None
        self.beam_pid = None

    def cleanup(self):
        try:
            self.stop()
        finally:
            if self.epmd is not None:
                self.epmd.kill()
                self.epmd.wait(10)
                self.epmd = None
            shutil.rmtree(self.dir, ignore_errors=True)


def publish(broker, routing_key, body, exchange="graphite"):
    """One persistent message with amqp-publish (body on stdin, so it may hold newlines)."""
    p = subprocess.run(["amqp-publish", "-u", broker.url, "-e", exchange, "-r", routing_key,
                        "-p"], input=body if isinstance(body, bytes) else body.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    if p.returncode != 0:
        raise RuntimeError("amqp-publish failed: %s" % p.stdout.decode("utf-8", "replace"))


def start_pub(broker, name, count, lines=1, body_names=False, interval_us=0, start_ts=T0):
    args = [AMQP_PUB, "--url", broker.url, "--exchange", "graphite", "--name", name,
            "--count", str(count), "--lines", str(lines), "--start-ts", str(start_ts),
            "--interval-us", str(interval_us), "--window", "200", "--timeout", "60"]
    if body_names:
        args.append("--body-names")
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def amqp_server(broker, data_dir=None, name_in_body=False, queue="cairn", binding="#"):
    return Server(data_dir=data_dir, extra=[
        "amqp.url=" + broker.url, "amqp.queue=" + queue, "amqp.binding_key=" + binding,
        "amqp.metric_name_in_body=%s" % ("true" if name_in_body else "false"),
        "amqp.prefetch=100", "amqp.max_message_bytes=4KB", "amqp.heartbeat=5s",
        "storage.sync_interval=1s"])


def metric(srv, name):
    return srv.metrics().get(name)


def wait_connected(c, srv, what):
    ok = srv.wait_for(lambda: metric(srv, "cairn_amqp_connected") == 1.0, timeout=30)
    c.ok(ok, what + ": consumer connected; log:\n" + ("" if ok else srv.log_text()))


def stream_points(srv, name, n):
    """{ts_seconds: value} of series 'name' over the stream's range."""
    st, body = csv_query(srv, name, T0 * NS, (T0 + n + 10) * NS)
    out = {}
    if st != 200:
        return out
    for line in body.splitlines():
        parts = line.split(",")
        if len(parts) == 3 and parts[1].startswith("ts="):
            out.setdefault(int(parts[1][3:]) // NS, []).append(float(parts[2]))
    return out


def check_stream(c, srv, name, n, what):
    """Exactly n points, one per timestamp, value k at T0+k."""
    want = {T0 + k: [float(k)] for k in range(n)}
    srv.wait_for(lambda: len(stream_points(srv, name, n)) >= n, timeout=40)
    got = stream_points(srv, name, n)
    missing = [ts - T0 for ts in want if ts not in got]
    extra = [ts - T0 for ts in got if ts not in want]
    wrong = [ts - T0 for ts in want if ts in got and got[ts] != want[ts]]
    c.ok(not missing and not extra and not wrong,
         "%s: %d points expected: %d missing (first %s), %d unexpected, %d wrong/duplicated" %
         (what, n, len(missing), missing[:5], len(extra), len(wrong)))


def wait_pub(c, pub, what):
    try:
        out, _ = pub.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        pub.kill()
        out, _ = pub.communicate(timeout=10)
    print("%s: %s" % (what, out.decode("utf-8", "replace").strip()))
    c.eq(pub.returncode, 0, what + ": publisher confirmed every message")


def main():
    script = find_rabbit()
    if script is None:
        die("RabbitMQ is not installed (%s not found): install the Debian package "
            "rabbitmq-server (make deps)" % " or ".join(RABBIT_CANDIDATES))
    for tool in ("epmd", "amqp-publish"):
        if shutil.which(tool) is None:
            die("%s not found: install the Debian packages rabbitmq-server and amqp-tools "
                "(make deps)" % tool)
    if not os.access(AMQP_PUB, os.X_OK):
        die("%s not built (make builds it)" % AMQP_PUB)
    broker = Broker(script)
    c = Checks()
    servers = []
    try:
        try:
            t = time.time()
            broker.start()
            print("broker started in %.1fs on port %d" % (time.time() - t, broker.port))
        except RuntimeError as e:
            die("RabbitMQ could not be started: %s" % e)

        # -- 1. routing-key form (carbon's default), malformed and oversized messages -------
        srv = amqp_server(broker, queue="cairn_rk", binding="rk.#")
        servers.append(srv)
        srv.start()
        wait_connected(c, srv, "routing-key form")
        publish(broker, "rk.a", "1.5 %d\n2.25\t%d\r\n\n  nan %d\n  4e1   %d  \n5 %d.9" %
                (T0, T0 + 10, T0 + 20, T0 + 30, T0 + 40))
        publish(broker, "rk.a", "6 %d\n" % (T0 + 50))
        publish(broker, "rk.cpu;host=b", "7 %d\n" % T0)          # tagged routing key
        publish(broker, "rk.now", "8\n")                          # value only: now
        publish(broker, "rk.a", "x %d\n1 2 3\n9 %d\n" % (T0, T0 + 60))  # 2 bad lines, 1 good
        publish(broker, "rk.bad;tag", "1 %d\n" % T0)              # invalid name: bad message
        publish(broker, "rk.big", ("1 %d\n" % T0) * 400)           # 4.4 KB > 4KB: bad message
        publish(broker, "rk.empty", "")                           # empty body: nothing, not bad
        want_a = "".join("rk.a,ts=%d,%s\n" % ((T0 + dt) * NS, v) for dt, v in
                         [(0, "1.5"), (10, "2.25"), (30, "40"), (40, "5"), (50, "6"),
                          (60, "9")])
        c.eventually_eq(lambda: csv_query(srv, "rk.a", T0 * NS, (T0 + 100) * NS),
                        (200, want_a), "routing-key form: rk.a exact")
        c.eq(csv_query(srv, "rk.cpu", T0 * NS, (T0 + 1) * NS, ',"where":{"host":"b"}'),
             (200, "rk.cpu host=b,ts=%d,7\n" % (T0 * NS)), "routing-key form: tagged key")
        now = time.time()
        st, body = csv_query(srv, "rk.now", int(now - 120) * NS, int(now + 120) * NS)
        c.ok(st == 200 and body.startswith("rk.now,ts=") and body.endswith(",8\n")
             and body.count("\n") == 1, "routing-key form: lone value means now: %r" % body)
        c.eq(csv_query(srv, "rk.big", 0, (T0 + 10) * NS), (200, b"-not found\r\n".decode()),
             "oversized message stored nothing")
        c.eventually_eq(lambda: metric(srv, "cairn_amqp_acked_total"), 8.0,
                        "every message acknowledged (good and bad)")
        m = srv.metrics()
        c.eq(m.get("cairn_amqp_messages_total"), 8.0, "messages counted")
        c.eq(m.get("cairn_amqp_bad_messages_total"), 3.0,
             "bad messages counted (bad lines, bad name, oversized)")
        c.eq(m.get("cairn_amqp_bad_lines_total"), 2.0, "bad lines counted")
        c.eq(m.get("cairn_amqp_nan_dropped_total"), 1.0, "NaN dropped and counted")
        c.eq(m.get("cairn_amqp_points_total"), 8.0, "points counted")
        c.eq(m.get("cairn_amqp_points_rejected_total"), 1.0, "point with a bad name refused")
        c.eq(m.get("cairn_amqp_unacked"), 0.0, "nothing left unacknowledged")
        c.ok("invalid message line" in srv.log_text(), "bad line logged")
        # Acknowledged means not redelivered: a clean restart consumes nothing.
        c.eq(srv.stop(), 0, "clean stop with the consumer running")
        srv.start()
        wait_connected(c, srv, "after a clean restart")
        time.sleep(1.0)
        c.eq(metric(srv, "cairn_amqp_messages_total"), 0.0, "no redelivery after acknowledgement")
        c.eventually_eq(lambda: csv_query(srv, "rk.a", T0 * NS, (T0 + 100) * NS),
                        (200, want_a), "rk.a after restart")

        # -- 2. broker restart in the middle of a stream ---------------------------------------
        n = 3000
        pub = start_pub(broker, "rk.restart", n, interval_us=1000)
        srv.wait_for(lambda: (metric(srv, "cairn_amqp_points_total") or 0) >= 300, timeout=30)
        t = time.time()
        broker.stop()
        broker.start()
        print("broker restarted in %.1fs" % (time.time() - t))
        wait_pub(c, pub, "broker restart")
        check_stream(c, srv, "rk.restart", n, "broker restart mid-stream")
        c.ok(srv.wait_for(lambda: (metric(srv, "cairn_amqp_reconnects_total") or 0) >= 1,
                          timeout=30), "reconnect counted")
        c.eventually_eq(lambda: metric(srv, "cairn_amqp_unacked"), 0.0,
                        "broker restart: everything acknowledged in the end", timeout=30)

        # -- 3. kill -9 of cairnd in the middle of a stream -------------------------------------
        pub = start_pub(broker, "rk.crash", n, interval_us=1000)
        srv.wait_for(lambda: (metric(srv, "cairn_amqp_points_total") or 0) >= 500, timeout=30)
        srv.kill9()
        time.sleep(0.3)
        srv.start()
        wait_pub(c, pub, "kill -9")
        check_stream(c, srv, "rk.crash", n, "kill -9 of cairnd mid-stream")
        c.eventually_eq(lambda: metric(srv, "cairn_amqp_unacked"), 0.0,
                        "kill -9: everything acknowledged in the end", timeout=30)
        c.eq(srv.stop(), 0, "clean stop")

        # -- 4. metric name in the body ---------------------------------------------------------
        srv2 = amqp_server(broker, name_in_body=True, queue="cairn_body", binding="body.#")
        servers.append(srv2)
        srv2.start()
        wait_connected(c, srv2, "name-in-body form")
        publish(broker, "body.x", "b.one 1 %d\nb.one 2.5 %d\r\nb.two -3 %d\n"
                "cpu;host=a;dc=x 7 %d\nb.one nan %d\nb.one 4 -1\n" %
                (T0, T0 + 10, T0, T0, T0 + 20))
        publish(broker, "body.y", "b.one 3 %d\nonly two\n" % (T0 + 30))
        c.eventually_eq(lambda: csv_query(srv2, "b.one", T0 * NS, (T0 + 100) * NS),
                        (200, "b.one,ts=%d,1\nb.one,ts=%d,2.5\nb.one,ts=%d,3\n" %
                         (T0 * NS, (T0 + 10) * NS, (T0 + 30) * NS)), "name-in-body: b.one exact")
        c.eq(csv_query(srv2, "b.two", T0 * NS, (T0 + 100) * NS),
             (200, "b.two,ts=%d,-3\n" % (T0 * NS)), "name-in-body: b.two")
        c.eq(csv_query(srv2, "cpu", T0 * NS, (T0 + 1) * NS, ',"where":{"host":"a"}'),
             (200, "cpu dc=x host=a,ts=%d,7\n" % (T0 * NS)), "name-in-body: tagged name canonical")
        now = time.time()
        st, body = csv_query(srv2, "b.one", int(now - 120) * NS, int(now + 120) * NS)
        c.ok(st == 200 and body.endswith(",4\n") and body.count("\n") == 1,
             "name-in-body: -1 timestamp means now: %r" % body)
        pub = start_pub(broker, "body.stream", 200, lines=50, body_names=True)
        wait_pub(c, pub, "name-in-body stream")
        check_stream(c, srv2, "body.stream", 200 * 50, "name-in-body: 200 messages x 50 lines")
        c.eventually_eq(lambda: metric(srv2, "cairn_amqp_acked_total"), 202.0,
                        "name-in-body: all acknowledged")
        m = srv2.metrics()
        c.eq(m.get("cairn_amqp_bad_messages_total"), 1.0, "name-in-body: bad message counted")
        c.eq(m.get("cairn_amqp_bad_lines_total"), 1.0, "name-in-body: bad line counted")
        c.eq(srv2.stop(), 0, "clean stop")
    finally:
        for s in servers:
            s.cleanup()
        broker.cleanup()
    c.finish()


if __name__ == "__main__":
    main()
