"""Crash test: stream points into cairnd, kill -9 it at random moments (5 rounds, one data
directory), restart, and check that every point sent more than 2 x sync_interval before the
kill is there with its exact value, that nothing unsent appears, and that `cairn check` passes."""
import socket
import threading
import time

from harness import Checks, Server, csv_query, run_cairn, seeded_random

SYNC_S = 0.25
ROUNDS = 5
SERIES = 8
NS = 1000000000
T0 = 1750000000

rnd = seeded_random()
c = Checks()
srv = Server(extra=["storage.sync_interval=250ms", "storage.memtable_size=1MB",
                    "storage.wal_segment_size=256KB"])
srv.start()


def writer(round_no, log, stop):
    """Send batches of lines; after each sendall record (time, last i)."""
    try:
        s = socket.create_connection(("127.0.0.1", srv.tcp), timeout=5)
    except OSError:
        return
    i = 0
    try:
        deadline = time.time() + 30
        while not stop.is_set() and time.time() < deadline:
            lines = []
            for _ in range(50):
                for k in range(SERIES):
                    lines.append("crash.r%d.s%d %d.%02d %d\n" % (round_no, k, i, k, T0 + i))
                i += 1
            s.sendall("".join(lines).encode())
            log.append((time.time(), i))
            time.sleep(0.002)
    except OSError:
        pass
    finally:
        s.close()


try:
    for r in range(ROUNDS):
        log, stop = [], threading.Event()
        t = threading.Thread(target=writer, args=(r, log, stop))
        t.start()
        time.sleep(rnd.uniform(0.8, 2.5))
        killed_at = time.time()
        srv.kill9()
        stop.set()
        t.join(30)
        safe = max([n for (ts, n) in log if ts < killed_at - 2 * SYNC_S] or [0])
        sent = log[-1][1] if log else 0
        srv.start()
        for k in range(SERIES):
            st, body = csv_query(srv, "crash.r%d.s%d" % (r, k), T0 * NS, (T0 + 10 ** 7) * NS)
            rows = [] if body.startswith("-") else body.splitlines()
            got = {}
            for row in rows:
                name, ts, v = row.split(",")
                got[int(ts[3:]) // NS - T0] = float(v)
            missing = [i for i in range(safe) if got.get(i) != float("%d.%02d" % (i, k))]
            c.ok(not missing, "round %d series %d: %d of %d safe points missing or wrong "
                 "(first %r)" % (r, k, len(missing), safe, missing[:3]))
            extra = [i for i in got if i >= sent]
            c.ok(not extra, "round %d series %d: points never sent appear: %r" % (r, k, extra[:3]))
        c.ok(safe > 0, "round %d: some points were safely acknowledged (%d)" % (r, safe))
        print("round %d: killed after %d points per series, %d safe" % (r, sent, safe))
    c.eq(srv.stop(), 0, "final SIGTERM exits 0")
    code, out = run_cairn("check", srv.data_dir)
    c.ok(code == 0, "cairn check passes after the crashes: %s" % out)
finally:
    if c.failed:
        print(srv.log_text())
    srv.cleanup()
c.finish()
