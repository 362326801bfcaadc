#!/usr/bin/env python3
"""bench/amqp.py -- AMQP ingest into cairn through a private RabbitMQ node.

For each workload: a fresh cairnd (release build, `storage.sync_interval=1s`, `amqp.prefetch`
as given) declares its queue and stops; build/release/amqp_pub fills the queue with N persistent
messages (publisher confirms); then cairnd starts again and is timed from its start until
`cairn_amqp_acked_total` reaches N, i.e. every message was consumed, its points made durable
(WAL fsync) and the message acknowledged. Measured: messages/s and points/s over that
interval, cairnd's CPU seconds (utime+stime from /proc), and the publisher's own rate. Every
point count is checked against `cairn_amqp_points_total`.

    bench/amqp.py [--results FILE] [--prefetch N]

The broker (Debian rabbitmq-server) runs on 127.0.0.1 with its own ports, data dir and epmd,
exactly as tests/integration/test_amqp.py starts it, and is stopped by PID. Prints one markdown
section; --results FILE also appends it to FILE. Every wait is bounded.
"""
import argparse
import os
import platform
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("CAIRND", os.path.join(ROOT, "build", "release", "cairnd"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from harness import CAIRND, Server  # noqa: E402
from test_amqp import AMQP_PUB, Broker, find_rabbit  # noqa: E402

WORKLOADS = [  # (name, messages, lines per message, names in the body)
    ("bench.single", 100000, 1, False),
    ("bench.lines", 10000, 500, False),
    ("bench.body", 10000, 500, True),
]
TIMEOUT_S = 600


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def log(msg):
    print("[amqp %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def run(broker, prefetch, name, count, lines, body_names):
    srv = Server(extra=["amqp.url=" + broker.url, "amqp.queue=" + name,
                        "amqp.binding_key=" + name, "amqp.prefetch=%d" % prefetch,
                        "amqp.metric_name_in_body=%s" % ("true" if body_names else "false"),
                        "storage.sync_interval=1s"])
    try:
        srv.start()
        if not srv.wait_for(lambda: srv.metrics().get("cairn_amqp_connected") == 1.0, 30):
            raise RuntimeError("consumer did not connect:\n" + srv.log_text())
        srv.stop()
        args = [AMQP_PUB, "--url", broker.url, "--exchange", "graphite", "--name", name,
                "--count", str(count), "--lines", str(lines), "--window", "1000",
                "--timeout", str(TIMEOUT_S)] + (["--body-names"] if body_names else [])
        t = time.time()
        pub = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             timeout=TIMEOUT_S + 30)
        pub_s = time.time() - t
        if pub.returncode != 0:
            raise RuntimeError("amqp_pub failed: " + pub.stdout.decode("utf-8", "replace"))
        log("%s: published %d messages in %.2f s" % (name, count, pub_s))
        t0 = time.time()
        srv.start()
        pid = srv.proc.pid
        deadline = t0 + TIMEOUT_S
        acked = 0
        while time.time() < deadline:
            acked = srv.metrics().get("cairn_amqp_acked_total", 0)
            if acked >= count:
                break
            time.sleep(0.02)
        t1 = time.time()
        cpu = cpu_s(pid)
        if acked < count:
            raise RuntimeError("%s: only %d of %d messages acked" % (name, acked, count))
        points = srv.metrics().get("cairn_amqp_points_total", 0)
        if points != count * lines:
            raise RuntimeError("%s: %d points stored, expected %d" % (name, points, count * lines))
        srv.stop()
        secs = t1 - t0
        log("%s: consumed and acked in %.2f s" % (name, secs))
        return {"name": name, "count": count, "lines": lines, "body": body_names,
                "pub_s": pub_s, "secs": secs, "cpu": cpu}
    finally:
        srv.cleanup()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", help="also append the section to this file")
    ap.add_argument("--prefetch", type=int, default=1000)
    opt = ap.parse_args()
    script = find_rabbit()
    if not script or not os.access(AMQP_PUB, os.X_OK) or not os.access(CAIRND, os.X_OK):
        sys.exit("need rabbitmq-server (make deps) and %s, %s (make)" % (CAIRND, AMQP_PUB))
    broker = Broker(script)
    rows = []
    try:
        broker.start()
        for w in WORKLOADS:
            rows.append(run(broker, opt.prefetch, *w))
    finally:
        broker.cleanup()
    out = ["### %s — amqp" % time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "",
           "- machine: %d cores, kernel %s; broker: Debian rabbitmq-server on the same machine"
           % (os.cpu_count(), platform.release()),
           "- command: `bench/amqp.py%s` (CAIRND=%s, amqp.prefetch=%d, storage.sync_interval=1s)"
           % (" --results " + opt.results if opt.results else "",
              os.path.relpath(CAIRND, ROOT), opt.prefetch),
           "- timed: cairnd start → every message acked (points durable); the queue was filled "
           "before", "",
           "| workload | messages | points | publish s (msg/s) | s to all acked | messages/s | "
           "points/s | cairnd CPU s | points per CPU s |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        pts = r["count"] * r["lines"]
        form = "`name value ts` lines" if r["body"] else "routing key = name, `value ts` lines"
        out.append("| %d × %d line(s), %s | %d | %d | %.2f (%.0f) | %.2f | %.0f | %.0f | %.2f | %.0f |"
                   % (r["count"], r["lines"], form, r["count"], pts, r["pub_s"],
                      r["count"] / r["pub_s"], r["secs"], r["count"] / r["secs"],
                      pts / r["secs"], r["cpu"], pts / r["cpu"] if r["cpu"] else 0))
    text = "\n".join(out) + "\n"
    print(text)
    if opt.results:
        with open(opt.results, "a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
