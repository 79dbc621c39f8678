"""Helpers for the socket tests of real servers (redis_conn.py, http_keepalive.py):
the ztest protocol's arguments, and a client that lives outside the dumped tree.

outside(fn) runs fn(wait_go) in a process that leaves the tree before the dump
(a double fork: the intermediate child exits, the client is reparented, and setsid
puts it in a session of its own, which the runner cleans up). fn holds its
connections across the checkpoint: wait_go(seconds) returns once the test says go
(after the restore), and fn's return value ("PASS" or "FAIL: why") is its verdict,
passed back through a file in the run's tmp dir (no fd joins the client and the
tree)."""
import os
import signal
import sys
import time


class Ztest:
    def __init__(self):
        args = sys.argv[1:]
        self.pidfile = os.environ.get("ZT_PIDFILE")
        self.outfile = os.environ.get("ZT_OUTFILE")
        while args:
            a = args.pop(0)
            if a == "--pidfile":
                self.pidfile = args.pop(0)
            elif a == "--outfile":
                self.outfile = args.pop(0)
        self.self_fail = os.environ.get("ZT_SELF_TEST_FAIL", "0") not in ("", "0")
        self.tmp = os.environ.get("ZT_TMPDIR") or "/tmp"
        self.got_term = False
        signal.signal(signal.SIGTERM, self._on_term)

    def _on_term(self, sig, frame):
        self.got_term = True

    def ready(self):
        with open(self.pidfile + ".tmp", "w") as f:
            f.write("%d\n" % os.getpid())
        os.rename(self.pidfile + ".tmp", self.pidfile)

    def wait(self):
        while not self.got_term:
            time.sleep(0.02)

    def finish(self, errors):
        line = "FAIL: " + errors[0] if errors else "PASS"
        sys.stderr.write("[%d] %s\n" % (os.getpid(), line))
        with open(self.outfile, "a") as f:
            f.write(line + "\n")
        sys.exit(1 if errors else 0)


class Outside:
    def __init__(self, tmp, name):
        self.go_path = os.path.join(tmp, "%s.go.%d" % (name, os.getpid()))
        self.verdict_path = os.path.join(tmp, "%s.verdict.%d" % (name, os.getpid()))
        for p in (self.go_path, self.verdict_path):
            if os.path.exists(p):
                os.unlink(p)

    def wait_go(self, seconds):
        end = time.monotonic() + seconds
        while not os.path.exists(self.go_path):
            if time.monotonic() > end:
                raise TimeoutError("no go within %d s" % seconds)
            time.sleep(0.002)

    def go(self):
        open(self.go_path, "w").close()

    def verdict(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                with open(self.verdict_path) as f:
                    v = f.read()
                if v:
                    return v
            except FileNotFoundError:
                pass
            time.sleep(0.05)
        return "FAIL: no verdict from the client outside the tree within %d s" % seconds


def outside(tmp, name, fn):
    """Start fn(wait_go) outside the tree; returns the Outside to go() and verdict()."""
    o = Outside(tmp, name)
    pid = os.fork()
    if pid == 0:
        try:
            if os.fork() == 0:
                os.setsid()
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                # nothing of the tree's: its sockets would live on here after the dump
                os.closerange(3, 65536)
                try:
                    v = fn(o.wait_go)
                except Exception as e:  # the verdict says what broke
                    v = "FAIL: %s: %s" % (type(e).__name__, e)
                with open(o.verdict_path + ".tmp", "w") as f:
                    f.write(v)
                os.rename(o.verdict_path + ".tmp", o.verdict_path)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    return o
