#!/usr/bin/python3
"""A real server with live connections: redis-server (Debian's) with a million keys
(DEBUG POPULATE), checkpointed with --tcp-established while two clients keep a
connection open: this wrapper (in the tree: both ends of that connection are
dumped) and a client outside the tree (outside.py), whose connection the network
lock keeps alive while redis is gone. After the restore the old connections
answer their next commands (PING, DBSIZE, GET, SET) and a new connection sees
every key, the one set through the old connection too. The ztest protocol, as
counter.py; redis logs to a file of the run's tmp dir."""
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from outside import Ztest, outside  # noqa: E402

KEYS = 1000000


class Resp:
    """Enough of the redis protocol for these commands."""

    def __init__(self, port, timeout=30):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise ConnectionError("the connection ended")
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b":":
            return int(rest)
        if kind == b"-":
            raise RuntimeError("redis: " + rest.decode())
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                d = self.s.recv(65536)
                if not d:
                    raise ConnectionError("the connection ended")
                self.buf += d
            v, self.buf = self.buf[:n], self.buf[n + 2:]
            return v.decode()
        raise RuntimeError("unexpected reply %r" % line)


def check_all(r, errors, who, keys):
    n = r.cmd("DBSIZE")
    if n != keys:
        errors.append("%s: DBSIZE %s, want %d" % (who, n, keys))
    for k in (0, 4242, KEYS - 1):
        v = r.cmd("GET", "key:%d" % k)
        if v != "value:%d" % k:
            errors.append("%s: GET key:%d gave %r" % (who, k, v))


def main():
    zt = Ztest()
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    log = os.path.join(zt.tmp, "redis.log")
    server = subprocess.Popen(["/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1",
                               "--save", "", "--appendonly", "no", "--enable-debug-command", "local",
                               "--daemonize", "no", "--dir", zt.tmp, "--logfile", log],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, close_fds=True)
    errors = []

    def stop():
        if server.poll() is None:
            try:
                Resp(port, 5).cmd("SHUTDOWN", "NOSAVE")
            except Exception:
                pass
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()

    end = time.monotonic() + 30
    while True:
        try:
            inner = Resp(port)
            if inner.cmd("PING") == "PONG":
                break
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > end:
            zt.finish(["redis-server did not start (see %s)" % log])
        time.sleep(0.05)
    t0 = time.monotonic()
    inner.cmd("DEBUG", "POPULATE", str(KEYS))
    sys.stderr.write("[%d] %d keys in %.2f s\n" % (os.getpid(), KEYS, time.monotonic() - t0))

    def client(wait_go):
        r = Resp(port)
        if r.cmd("PING") != "PONG" or r.cmd("DBSIZE") != KEYS:
            return "FAIL: before the checkpoint: no PONG or not every key"
        wait_go(300)
        t = time.monotonic()
        if r.cmd("PING") != "PONG":
            return "FAIL: the old connection did not answer PING"
        dt = time.monotonic() - t
        errs = []
        check_all(r, errs, "the outside client's old connection", KEYS)
        if r.cmd("SET", "outside", "after restore") != "OK":
            errs.append("SET on the outside client's old connection failed")
        if errs:
            return "FAIL: " + errs[0]
        return "PASS (PING answered in %.1f ms)" % (dt * 1000)

    o = outside(zt.tmp, "redis_conn", client)
    zt.ready()
    zt.wait()

    if server.poll() is not None:
        zt.finish(["redis-server exited (status %s)" % server.returncode])
    if zt.self_fail:
        inner.cmd("DEL", "key:4242")
    o.go()
    v = o.verdict(120)
    sys.stderr.write("[%d] the client outside the tree: %s\n" % (os.getpid(), v))
    if not v.startswith("PASS"):
        errors.append("the client outside the tree: " + v)
    try:
        check_all(inner, errors, "the old connection in the tree", KEYS + (1 if v.startswith("PASS") else 0))
        fresh = Resp(port)
        check_all(fresh, errors, "a new connection", KEYS + (1 if v.startswith("PASS") else 0))
        if v.startswith("PASS") and fresh.cmd("GET", "outside") != "after restore":
            errors.append("a new connection does not see the key set through the old one")
    except Exception as e:
        errors.append("after restore: %s: %s" % (type(e).__name__, e))
    stop()
    zt.finish(errors)


main()
