#!/usr/bin/python3
"""A shell pipeline we did not write, checkpointed mid-flight:
    sh -c 'seq 1000000 | while read n; do echo "$n $((n * 3))"; done | cat > FILE'
(dash: the shell, seq, a subshell running the loop, cat, joined by pipes).
This wrapper speaks the ztest protocol (ZT_PIDFILE/ZT_OUTFILE or --pidfile/
--outfile, ZT_TMPDIR, ZT_SELF_TEST_FAIL): ready once FILE has output; after
SIGTERM it waits for the pipeline to finish and checks that sh exited 0 and
that FILE is complete and in order, every line once."""
import os
import signal
import subprocess
import sys
import time

N = 1000000
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
out = os.path.join(tmp, "pipeline.out")
got_term = False


def on_term(sig, frame):
    global got_term
    got_term = True


def finish(errors):
    line = "FAIL: " + errors[0] if errors else "PASS"
    sys.stderr.write("[%d] %s\n" % (os.getpid(), line))
    with open(outfile, "a") as f:
        f.write(line + "\n")
    sys.exit(1 if errors else 0)


signal.signal(signal.SIGTERM, on_term)
cmd = 'seq %d | while read n; do echo "$n $((n * 3))"; done | cat > "$1"' % N
sh = subprocess.Popen(["/bin/sh", "-c", cmd, "sh", out], stdin=subprocess.DEVNULL, close_fds=True)
# ready once the pipeline is well under way: 40% of the output written (about
# 2 s before its end here, idle), so that after a restore it has little left
end = time.monotonic() + 60
while not (os.path.exists(out) and os.path.getsize(out) >= 5800000):
    if sh.poll() is not None or time.monotonic() > end:
        finish(["the pipeline did not start (status %s)" % sh.poll()])
    time.sleep(0.01)
with open(pidfile + ".tmp", "w") as f:
    f.write("%d\n" % os.getpid())
os.rename(pidfile + ".tmp", pidfile)

while not got_term:
    time.sleep(0.05)
errors = []
try:
    rc = sh.wait(timeout=120)
except subprocess.TimeoutExpired:
    finish(["the pipeline did not finish within 120 s"])
if rc != 0:
    errors.append("sh exited with status %d" % rc)
if self_fail:
    with open(out, "r+b") as f:
        f.seek(os.path.getsize(out) // 2)
        c = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(b"x" if c != b"x" else b"y")
with open(out, "rb") as f:
    data = f.read()
want = "".join("%d %d\n" % (n, n * 3) for n in range(1, N + 1)).encode()
if data != want:
    lines = data.split(b"\n")
    bad = next((i for i, l in enumerate(lines[:N])
                if l != b"%d %d" % (i + 1, (i + 1) * 3)), min(len(lines), N))
    errors.append("the output has %d bytes (want %d); line %d is %r" %
                  (len(data), len(want), bad + 1, lines[bad] if bad < len(lines) else None))
finish(errors)
