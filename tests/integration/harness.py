"""Shared helpers for the black-box tests: start the real cairnd on 127.0.0.1 with free ports and
a temporary data directory, speak its protocols, and count checks.

Every wait is bounded; every process started here is stopped by PID.
"""
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CAIRND = os.environ.get("CAIRND", os.path.join(ROOT, "build", "asan", "cairnd"))
CAIRN = os.environ.get("CAIRN", os.path.join(ROOT, "build", "asan", "cairn"))


def free_port(kind=socket.SOCK_STREAM):
    """A port free for both TCP and UDP on 127.0.0.1 at the time of the call."""
    for _ in range(100):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        s.close()
        u.close()
        return port
    raise RuntimeError("no free port")


class Checks:
    """Counts assertions and prints the closing 'N passed, N failed' line."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, cond, what):
        if cond:
            self.passed += 1
        else:
            self.failed += 1
            print("FAILED: " + what, flush=True)
        return cond

    def eq(self, got, want, what):
        return self.ok(got == want, "%s: got %r, want %r" % (what, got, want))

    def eventually_eq(self, fn, want, what, timeout=20):
        """Poll fn() until it returns want (ingest is asynchronous), then assert equality."""
        deadline = time.time() + timeout
        got = fn()
        while got != want and time.time() < deadline:
            time.sleep(0.05)
            got = fn()
        return self.eq(got, want, what)

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed))
        sys.exit(1 if self.failed else 0)


class Server:
    """One cairnd process with its own data dir and ports."""

    def __init__(self, data_dir=None, extra=None):
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="cairn-test-")
        self.tcp = free_port()
        self.http = free_port()
        self.pickle = free_port()
        self.resp = free_port()        # TCP and UDP
        self.opentsdb = free_port()
        self.extra = list(extra or [])
        self.proc = None
        self.log_path = os.path.join(tempfile.gettempdir(),
                                     "cairnd-%d-%d.log" % (os.getpid(), self.http))

    def args(self):
        a = [CAIRND, "--data", self.data_dir,
             "--set", "graphite.plaintext=127.0.0.1:%d" % self.tcp,
             "--set", "graphite.udp=127.0.0.1:%d" % self.tcp,
             "--set", "http.listen=127.0.0.1:%d" % self.http,
             "--set", "graphite.pickle=127.0.0.1:%d" % self.pickle,
             "--set", "resp.tcp=127.0.0.1:%d" % self.resp,
             "--set", "resp.udp=127.0.0.1:%d" % self.resp,
             "--set", "opentsdb.tcp=127.0.0.1:%d" % self.opentsdb,
             "--set", "net.threads=2"]
        for kv in self.extra:
            a += ["--set", kv]
        return a

    def start(self, timeout=30):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args(), stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("cairnd exited with %s; log:\n%s" %
                                   (self.proc.returncode, self.log_text()))
            try:
                status, _ = self.get("/health")
                if status in (200, 503):
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("cairnd did not become ready; log:\n" + self.log_text())

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-6000:]
        except OSError:
            return ""

    def stop(self, timeout=60):
        """SIGTERM and wait; returns the exit code."""
        if not self.proc:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(10)
            raise RuntimeError("cairnd did not stop within %ss" % timeout)
        finally:
            self.log.close()
        self.proc = None
        return code

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self.log.close()
        self.proc = None

    def cleanup(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait(10)
            self.log.close()
            self.proc = None
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        try:
            os.unlink(self.log_path)
        except OSError:
            pass

    # -- protocols -------------------------------------------------------------------------

    def send_tcp(self, data, port=None):
        with socket.create_connection(("127.0.0.1", port or self.tcp), timeout=10) as s:
            s.sendall(data if isinstance(data, bytes) else data.encode())
            s.shutdown(socket.SHUT_WR)
            s.settimeout(10)
            try:
                while s.recv(4096):
                    pass
            except (socket.timeout, ConnectionResetError):
                pass

    def send_udp(self, data, port=None):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(data if isinstance(data, bytes) else data.encode(),
                     ("127.0.0.1", port or self.tcp))

    def converse(self, port, data, timeout=10):
        """Send data on a new TCP connection, half-close, and return (reply bytes, closed by
        the server before our half-close was answered?) after the server closes or times out."""
        out = b""
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(data if isinstance(data, bytes) else data.encode())
            s.shutdown(socket.SHUT_WR)
            s.settimeout(timeout)
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    out += chunk
            except (socket.timeout, ConnectionResetError):
                pass
        return out

    def request(self, method, path, body=None, timeout=30):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.http, path), data=body,
                                     method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def get(self, path):
        return self.request("GET", path)

    def query(self, q):
        body = q if isinstance(q, bytes) else q.encode()
        return self.request("POST", "/api/query", body)

    def metrics(self):
        """Parse /metrics into {name or name{labels}: value}."""
        _, body = self.get("/metrics")
        out = {}
        for line in body.decode().splitlines():
            if not line or line.startswith("#"):
                continue
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
        return out

    def wait_for(self, fn, timeout=20, what="condition"):
        deadline = time.time() + timeout
        while time.time() < deadline:
            v = fn()
            if v:
                return v
            time.sleep(0.05)
        return fn()


def csv_query(server, metric, frm, to, extra=""):
    q = ('{"select":"%s","range":{"from":%d,"to":%d},"output":{"format":"csv","timestamp":"raw"}%s}'
         % (metric, frm, to, extra))
    status, body = server.query(q)
    return status, body.decode("utf-8", "replace")


def run_cairn(*args, timeout=120):
    p = subprocess.run([CAIRN] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def seeded_random():
    seed = int(os.environ.get("CAIRN_TEST_SEED", str(int(time.time()))))
    print("random seed %d (set CAIRN_TEST_SEED to repeat)" % seed)
    return random.Random(seed)
