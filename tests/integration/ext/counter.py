#!/usr/bin/python3
"""A real interpreter as a test: counts in a loop (sleeping a little now and
then), keeps a running sum and some heap data; at SIGTERM it checks that the
counter went on increasing after the checkpoint, that the sum matches, that its
data is intact, and writes PASS or FAIL to the outfile (ztest protocol:
ZT_PIDFILE / ZT_OUTFILE or --pidfile / --outfile; ZT_SELF_TEST_FAIL)."""
import os
import signal
import sys
import time

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

got_term = False


def on_term(sig, frame):
    global got_term
    got_term = True


signal.signal(signal.SIGTERM, on_term)

data = {i: str(i * i) for i in range(100000)}
blob = bytes(range(256)) * 4096
count = 0
total = 0
samples = []


def step():
    global count, total
    count += 1
    total += count
    if count % 1000 == 0:
        samples.append((count, time.monotonic()))
        time.sleep(0.001)


for _ in range(5000):
    step()
ready_count = count
tmp = pidfile + ".tmp"
with open(tmp, "w") as f:
    f.write("%d\n" % os.getpid())
os.rename(tmp, pidfile)

while not got_term:
    step()
# a few more rounds after the signal: the loop must still run
term_count = count
for _ in range(3000):
    step()

errors = []
if self_fail:
    total += 1
if total != count * (count + 1) // 2:
    errors.append("running sum %d does not match count %d" % (total, count))
if count < term_count + 3000 or term_count <= ready_count:
    errors.append("counter did not advance: ready %d term %d now %d"
                  % (ready_count, term_count, count))
if any(samples[i][0] >= samples[i + 1][0] or samples[i][1] > samples[i + 1][1]
       for i in range(len(samples) - 1)):
    errors.append("samples are not monotonic")
if len(data) != 100000 or data[99999] != str(99999 * 99999) or blob != bytes(range(256)) * 4096:
    errors.append("heap data differs")
line = "FAIL: " + errors[0] if errors else "PASS"
sys.stderr.write("[%d] %s (count %d)\n" % (os.getpid(), line, count))
with open(outfile, "a") as f:
    f.write(line + "\n")
sys.exit(1 if errors else 0)
