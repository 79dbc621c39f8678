#!/usr/bin/python3
"""`python3 -m http.server` speaking HTTP/1.1 (keep-alive), checkpointed with
--tcp-established between two requests of the same connections: one held by this
wrapper (in the tree) and one by a client outside the tree (outside.py). After
the restore each connection's next request is answered on that same connection
(same local port, no reconnection): a 200 KB file; then a 404 (after which
http.server closes the connection). The ztest protocol,
as counter.py."""
import http.client
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from outside import Ztest, outside  # noqa: E402


def fetch(conn, name):
    """(status, body) of GET /name on the kept connection."""
    conn.request("GET", "/" + name, headers={"Connection": "keep-alive"})
    r = conn.getresponse()
    return r.status, r.read()


def same_connection(conn, before):
    """The request went out on the connection opened before (http.client would
    reconnect silently if the old one were gone)."""
    return conn.sock is not None and conn.sock.getsockname() == before


def main():
    zt = Ztest()
    www = os.path.join(zt.tmp, "www")
    os.makedirs(www, exist_ok=True)
    data = bytes((i * 13 + i // 241) & 0xff for i in range(200000))
    with open(os.path.join(www, "data.bin"), "wb") as f:
        f.write(data)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    server = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "--protocol",
                               "HTTP/1.1", "--directory", www, str(port)],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, close_fds=True)
    errors = []

    def stop():
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()

    end = time.monotonic() + 30
    while True:
        try:
            inner = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
            st, body = fetch(inner, "data.bin")
            if st == 200 and body == data:
                break
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > end:
            zt.finish(["the server does not answer"])
        time.sleep(0.05)
    inner_name = inner.sock.getsockname()

    def client(wait_go):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        st, body = fetch(c, "data.bin")
        if st != 200 or body != data:
            return "FAIL: before the checkpoint: %s" % st
        name = c.sock.getsockname()
        wait_go(300)
        st, body = fetch(c, "data.bin")
        if not same_connection(c, name):
            return "FAIL: the request did not go out on the connection kept across the checkpoint"
        if st != 200 or body != data:
            return "FAIL: after restore: GET /data.bin gave %s, %d bytes" % (st, len(body))
        st, body = fetch(c, "missing")  # an error closes the connection (http.server's way)
        if st != 404:
            return "FAIL: after restore: GET /missing gave %s" % st
        return "PASS"

    o = outside(zt.tmp, "http_keepalive", client)
    zt.ready()
    zt.wait()
    if zt.self_fail:
        with open(os.path.join(www, "data.bin"), "r+b") as f:
            f.write(b"X")
    if server.poll() is not None:
        zt.finish(["the server exited (status %s)" % server.returncode])
    o.go()
    v = o.verdict(120)
    if v != "PASS":
        errors.append("the client outside the tree: " + v)
    try:
        st, body = fetch(inner, "data.bin")
        if not same_connection(inner, inner_name):
            errors.append("the wrapper's request did not go out on its kept connection")
        elif st != 200 or body != data:
            errors.append("the wrapper's kept connection: GET /data.bin gave %s, %d bytes" % (st, len(body)))
    except Exception as e:
        errors.append("the wrapper's kept connection: %s: %s" % (type(e).__name__, e))
    stop()
    zt.finish(errors)


main()
