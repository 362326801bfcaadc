"""Black-box test of cairnd's command line: --version, --help, --init (the printed config starts
a server), config file errors with file:line, --set errors, a busy data directory, SIGHUP log
reopening with a log file, and a clean SIGTERM."""
import os
import signal
import subprocess
import tempfile
import time

from harness import CAIRND, Checks, Server

c = Checks()


def run(*args):
    p = subprocess.run([CAIRND] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


code, out, _ = run("--version")
c.ok(code == 0 and out.startswith("cairnd "), "--version: %r" % out)
code, out, _ = run("--help")
c.ok(code == 0 and "--set SECTION.KEY=V" in out, "--help")
code, out, err = run("--bogus")
c.ok(code == 2 and "unknown or incomplete option '--bogus'" in err, "unknown option: %r" % err)

code, init, _ = run("--init")
c.ok(code == 0 and "[storage]" in init and "sync_interval = 1s" in init, "--init prints config")
c.ok(all(len(line) <= 100 for line in init.splitlines()), "--init lines within 100 columns")

tmp = tempfile.mkdtemp(prefix="cairn-cli-")
ini = os.path.join(tmp, "cairn.ini")
with open(ini, "w") as f:
    f.write(init)

# The --init text, with ports and data dir overridden, runs a server.
srv = Server(extra=[])
srv.args_orig = srv.args
srv.args = lambda: [CAIRND, "--config", ini, "--data", srv.data_dir,
                    "--set", "graphite.plaintext=127.0.0.1:%d" % srv.tcp,
                    "--set", "graphite.udp=", "--set", "http.listen=127.0.0.1:%d" % srv.http,
                    "--set", "graphite.pickle=", "--set", "resp.tcp=", "--set", "resp.udp=",
                    "--set", "opentsdb.tcp=",
                    "--set", "log.file=%s" % os.path.join(tmp, "cairnd.log")]
try:
    srv.start()
    c.ok(True, "server runs from the --init config")
    # A second server on the same data directory is refused.
    code, _, err = run("--data", srv.data_dir, "--set", "graphite.plaintext=", "--set",
                       "graphite.udp=", "--set", "http.listen=", "--set", "graphite.pickle=",
                       "--set", "resp.tcp=", "--set", "resp.udp=", "--set", "opentsdb.tcp=")
    c.ok(code == 1, "second server on a busy data dir exits 1 (got %d)" % code)
    # SIGHUP reopens the log file: after a rotation the new file receives lines.
    log = os.path.join(tmp, "cairnd.log")
    os.rename(log, log + ".1")
    srv.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while time.time() < deadline and not os.path.exists(log):
        time.sleep(0.05)
    c.ok(os.path.exists(log), "SIGHUP reopened the log file")
    c.eq(srv.stop(), 0, "SIGTERM exits 0")
    with open(log) as f:
        text = f.read()
    c.ok("stopped cleanly" in text, "shutdown logged to the reopened file")
finally:
    srv.cleanup()

bad = os.path.join(tmp, "bad.ini")
with open(bad, "w") as f:
    f.write("[storage]\npath = /tmp/x\nsync_interval = soon\n")
code, _, err = run("--config", bad)
c.ok(code == 2 and "bad.ini:3: storage.sync_interval: invalid duration 'soon'" in err,
     "bad value names file:line and key: %r" % err)
with open(bad, "w") as f:
    f.write("# comment\n[storage]\nbogus = 1\n")
code, _, err = run("--config", bad)
c.ok(code == 2 and "bad.ini:3: storage.bogus: unknown key" in err, "unknown key: %r" % err)
code, _, err = run("--set", "net.max_connections=lots")
c.ok(code == 2 and "--set: net.max_connections:" in err, "bad --set: %r" % err)
code, _, err = run("--config", os.path.join(tmp, "missing.ini"))
c.ok(code == 2 and "cannot read" in err, "missing config file: %r" % err)

subprocess.run(["rm", "-rf", tmp])
c.finish()
