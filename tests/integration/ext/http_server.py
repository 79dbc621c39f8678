#!/usr/bin/python3
"""A server we did not write: `python3 -m http.server` on 127.0.0.1 serving a
directory, checkpointed between two requests. This wrapper (the ztest
protocol, as counter.py) starts it, fetches a 200 KB file through it before
saying it is ready, and after SIGTERM fetches it again (and a missing one:
404), then stops the server."""
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

args = sys.argv[1:]
pidfile = os.environ.get("ZT_PIDFILE")
outfile = os.environ.get("ZT_OUTFILE")
while args:
    a = args.pop(0)
    if a == "--pidfile":
        pidfile = args.pop(0)
    elif a == "--outfile":
        outfile = args.pop(0)
self_fail = os.environ.get("ZT_SELF_TEST_FAIL", "0") not in ("", "0")
tmp = os.environ.get("ZT_TMPDIR") or "/tmp"
www = os.path.join(tmp, "www")
got_term = False


def on_term(sig, frame):
    global got_term
    got_term = True


def finish(errors, server=None):
    if server and server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    line = "FAIL: " + errors[0] if errors else "PASS"
    sys.stderr.write("[%d] %s\n" % (os.getpid(), line))
    with open(outfile, "a") as f:
        f.write(line + "\n")
    sys.exit(1 if errors else 0)


def get(port, name):
    """(status, body) of GET /name, within 20 s"""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/%s" % (port, name), timeout=20) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, b""
    except OSError as e:
        return None, str(e).encode()


signal.signal(signal.SIGTERM, on_term)
os.makedirs(www, exist_ok=True)
data = bytes((i * 7 + i // 251) & 0xff for i in range(200000))
with open(os.path.join(www, "data.bin"), "wb") as f:
    f.write(data)
s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.close()
server = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                           "--directory", www, str(port)],
                          stdin=subprocess.DEVNULL, close_fds=True)
end = time.monotonic() + 30
while True:
    st, body = get(port, "data.bin")
    if st == 200:
        break
    if server.poll() is not None or time.monotonic() > end:
        finish(["the server does not answer (%s %r)" % (st, body[:100])], server)
    time.sleep(0.05)
if body != data:
    finish(["the first answer differs"], server)
with open(pidfile + ".tmp", "w") as f:
    f.write("%d\n" % os.getpid())
os.rename(pidfile + ".tmp", pidfile)

while not got_term:
    time.sleep(0.05)
errors = []
if self_fail:
    with open(os.path.join(www, "data.bin"), "r+b") as f:
        f.write(b"X")
if server.poll() is not None:
    errors.append("the server exited (status %s)" % server.returncode)
st, body = get(port, "data.bin")
if st != 200 or body != data:
    errors.append("after restore: GET /data.bin gave %s, %d bytes%s" %
                  (st, len(body), " (different)" if st == 200 else ": %r" % body[:100]))
st, body = get(port, "missing")
if st != 404:
    errors.append("after restore: GET /missing gave %s, want 404" % st)
finish(errors, server)
